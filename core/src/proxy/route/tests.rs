use super::*;

const D: &str = "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";

fn flat(depth: usize) -> ChartLayout {
    ChartLayout::new(depth).unwrap()
}

fn req(method: &str, path: &str) -> Result<Required, RouteError> {
    required_access(method, path, "", &flat(1))
}

/// Regression (fuzz/regressions/proxy_route/name-with-dot-and-underscore): every scope the
/// proxy demands must be one the token endpoint parses, or no token can ever satisfy it.
#[test]
fn demanded_scopes_parse_at_the_token_endpoint() {
    for path in [
        "/v2/0.g_g/a/blobs/uploads/",
        "/v2/my.chart__x/app/manifests/latest",
    ] {
        let method = if path.ends_with('/') { "POST" } else { "GET" };
        let Ok(Required::Access(list)) = req(method, path) else {
            panic!("{path} should map to a scope");
        };
        for a in list {
            let text = format!("{}:{}:{}", a.resource_type, a.name, a.actions.join(","));
            assert!(crate::scope::Scope::parse(&text).is_ok(), "{text}");
        }
    }
}

/// Request -> what the proxy demands, as one table:
/// (method, path, query, chart depth, demanded scopes or the refusal).
/// `{D}` in a path or query stands for the digest `D`; "auth" means any valid token.
#[rustfmt::skip]
const ROUTES: &[(&str, &str, &str, usize, &str)] = &[
    // The base endpoint needs only authentication.
    ("GET", "/v2/", "", 1, "auth"),
    ("GET", "/v2", "", 1, "auth"),
    ("HEAD", "/v2/", "", 1, "auth"),
    ("POST", "/v2/", "", 1, "MethodNotAllowed"),
    // The catalog needs registry:catalog:*.
    ("GET", "/v2/_catalog", "", 1, "registry:catalog:*"),
    ("DELETE", "/v2/_catalog", "", 1, "MethodNotAllowed"),
    // `_catalog` as a repository component is not a valid name.
    ("GET", "/v2/_catalog/tags/list", "", 1, "NameInvalid"),
    // Every distribution endpoint and method.
    ("GET", "/v2/app/tags/list", "", 1, "repository:app:pull"),
    ("HEAD", "/v2/app/tags/list", "", 1, "repository:app:pull"),
    ("PUT", "/v2/app/tags/list", "", 1, "MethodNotAllowed"),
    ("GET", "/v2/app/manifests/v1.0", "", 1, "repository:app:pull"),
    ("HEAD", "/v2/app/manifests/{D}", "", 1, "repository:app:pull"),
    ("PUT", "/v2/app/manifests/latest", "", 1, "repository:app:pull,push"),
    ("DELETE", "/v2/app/manifests/{D}", "", 1, "repository:app:delete"),
    ("PATCH", "/v2/app/manifests/latest", "", 1, "MethodNotAllowed"),
    ("POST", "/v2/app/manifests/latest", "", 1, "MethodNotAllowed"),
    ("GET", "/v2/app/blobs/{D}", "", 1, "repository:app:pull"),
    ("HEAD", "/v2/app/blobs/{D}", "", 1, "repository:app:pull"),
    ("DELETE", "/v2/app/blobs/{D}", "", 1, "repository:app:delete"),
    ("PUT", "/v2/app/blobs/{D}", "", 1, "MethodNotAllowed"),
    ("POST", "/v2/app/blobs/uploads/", "", 1, "repository:app:pull,push"),
    ("GET", "/v2/app/blobs/uploads/", "", 1, "MethodNotAllowed"),
    ("PATCH", "/v2/app/blobs/uploads/a1b2-c3_d.e=", "", 1, "repository:app:pull,push"),
    ("PUT", "/v2/app/blobs/uploads/abc", "", 1, "repository:app:pull,push"),
    ("GET", "/v2/app/blobs/uploads/abc", "", 1, "repository:app:pull"),
    ("DELETE", "/v2/app/blobs/uploads/abc", "", 1, "repository:app:delete"),
    ("POST", "/v2/app/blobs/uploads/abc", "", 1, "MethodNotAllowed"),
    ("GET", "/v2/app/referrers/{D}", "", 1, "repository:app:pull"),
    ("DELETE", "/v2/app/referrers/{D}", "", 1, "MethodNotAllowed"),
    ("OPTIONS", "/v2/app/tags/list", "", 1, "MethodNotAllowed"),
    ("get", "/v2/app/tags/list", "", 1, "MethodNotAllowed"),
    // Multi-segment names take everything before the last suffix.
    ("GET", "/v2/org/team/app/tags/list", "", 1, "repository:org/team/app:pull"),
    ("GET", "/v2/a/manifests/b/manifests/latest", "", 1, "repository:a/manifests/b:pull"),
    ("POST", "/v2/a/blobs/uploads/blobs/uploads/", "", 1, "repository:a/blobs/uploads:pull,push"),
    ("GET", "/v2/x/blobs/y/blobs/{D}", "", 1, "repository:x/blobs/y:pull"),
    ("GET", "/v2/tags/list/tags/list", "", 1, "repository:tags/list:pull"),
    // Traversal, encoding and empty segments are refused.
    ("GET", "/v2/../secret/tags/list", "", 1, "NameInvalid"),
    ("GET", "/v2/a/../b/tags/list", "", 1, "NameInvalid"),
    ("GET", "/v2/a/./b/tags/list", "", 1, "NameInvalid"),
    ("GET", "/v2/a//b/tags/list", "", 1, "NameInvalid"),
    ("GET", "/v2//a/tags/list", "", 1, "NameInvalid"),
    ("GET", "/v2/a%2Fb/tags/list", "", 1, "NameInvalid"),
    ("GET", "/v2/a%2fb/manifests/latest", "", 1, "NameInvalid"),
    ("GET", "/v2/%2e%2e/tags/list", "", 1, "NameInvalid"),
    ("GET", "/v2/A/tags/list", "", 1, "NameInvalid"),
    ("GET", "/v2/a b/tags/list", "", 1, "NameInvalid"),
    ("GET", "/v2/-a/tags/list", "", 1, "NameInvalid"),
    ("GET", "/v2/a-/tags/list", "", 1, "NameInvalid"),
    ("GET", "/v2/a___b/tags/list", "", 1, "NameInvalid"),
    ("GET", "/v2/a..b/tags/list", "", 1, "NameInvalid"),
    ("GET", "/v2/a/manifests/..%2f", "", 1, "TagInvalid"),
    ("GET", "/v2/a/manifests/..", "", 1, "TagInvalid"),
    ("GET", "/v2/a/blobs/..", "", 1, "DigestInvalid"),
    ("PATCH", "/v2/a/blobs/uploads/..", "", 1, "UploadInvalid"),
    ("PATCH", "/v2/a/blobs/uploads/x%2F..%2F", "", 1, "UploadInvalid"),
    ("GET", "/v2/a/manifests/", "", 1, "TagInvalid"),
    ("GET", "/v2/a/unknown/x", "", 1, "NotFound"),
    ("GET", "/v2/a", "", 1, "NotFound"),
    ("GET", "/v2/a/tags/list/", "", 1, "NotFound"),
    ("GET", "/v2/a/blobs/{D}/", "", 1, "NotFound"),
    ("GET", "/v2x/a/tags/list", "", 1, "NotFound"),
    ("GET", "v2/", "", 1, "NotFound"),
    // A cross-repository mount needs pull on the source.
    ("POST", "/v2/org/app/blobs/uploads/", "mount={D}&from=org/base", 1, "repository:org/app:pull,push repository:org/base:pull"),
    // A percent-encoded slash in the query value is decoded, as Go's FormValue decodes it.
    ("POST", "/v2/app/blobs/uploads/", "mount={D}&from=org%2Fbase", 1, "repository:app:pull,push repository:org/base:pull"),
    // An encoded key counts too.
    ("POST", "/v2/app/blobs/uploads/", "%66rom=other", 1, "repository:app:pull,push repository:other:pull"),
    // `from` on another route still costs pull on it (FormValue reads it everywhere).
    ("GET", "/v2/app/tags/list", "from=other", 1, "repository:app:pull repository:other:pull"),
    // Mount without from: no extra scope (the registry starts a normal upload).
    ("POST", "/v2/app/blobs/uploads/", "mount={D}", 1, "repository:app:pull,push"),
    // Mount query abuse is refused.
    ("POST", "/v2/app/blobs/uploads/", "from=a&from=b", 1, "QueryInvalid"),
    // A query an older Go would split on `;` into a `from` we never saw.
    ("POST", "/v2/app/blobs/uploads/", "x=1;from=org/secret", 1, "QueryInvalid"),
    ("POST", "/v2/app/blobs/uploads/", "mount={D};from=org/secret", 1, "QueryInvalid"),
    ("POST", "/v2/app/blobs/uploads/", "from=a&%66rom=b", 1, "QueryInvalid"),
    ("POST", "/v2/app/blobs/uploads/", "from=../x", 1, "NameInvalid"),
    ("POST", "/v2/app/blobs/uploads/", "from=", 1, "NameInvalid"),
    ("POST", "/v2/app/blobs/uploads/", "from=a&mount=nope", 1, "DigestInvalid"),
    ("POST", "/v2/app/blobs/uploads/", "from=a&mount={D}&mount={D}", 1, "QueryInvalid"),
    // Static chart repositories at depth 0, 1 and 2.
    ("GET", "/index.yaml", "", 0, "artifact-repository:repo:pull"),
    ("GET", "/charts/app-1.0.0.tgz", "", 0, "artifact-repository:repo:pull"),
    ("HEAD", "/app-1.0.0.tgz", "", 0, "artifact-repository:repo:pull"),
    ("GET", "/org1/index.yaml", "", 1, "artifact-repository:org1:pull"),
    ("GET", "/org1/charts/app-1.0.0.tgz", "", 1, "artifact-repository:org1:pull"),
    ("GET", "/org1/app-1.0.0.tgz.prov", "", 1, "artifact-repository:org1:pull"),
    ("GET", "/org1/repo1/index.yaml", "", 2, "artifact-repository:org1/repo1:pull"),
    ("GET", "/org1/repo1/charts/app-1.0.0+build.1.tgz", "", 2, "artifact-repository:org1/repo1:pull"),
    // Wrong depth for the path shape: nothing there.
    ("GET", "/org1/index.yaml", "", 2, "NotFound"),
    ("GET", "/index.yaml", "", 1, "NotFound"),
    ("GET", "/a/b/c/index.yaml", "", 1, "NotFound"),
    // Static repositories are read-only.
    ("PUT", "/org1/index.yaml", "", 1, "MethodNotAllowed"),
    ("DELETE", "/org1/charts/a-1.tgz", "", 1, "MethodNotAllowed"),
    // Only chart files and the index are served.
    ("GET", "/org1/secret.txt", "", 1, "NotFound"),
    ("GET", "/org1/charts/readme.md", "", 1, "NotFound"),
    ("GET", "/", "", 0, "NotFound"),
    ("GET", "/health", "", 0, "NotFound"),
    // Chart path traversal is refused.
    ("GET", "/../index.yaml", "", 1, "ChartPathInvalid"),
    ("GET", "/./index.yaml", "", 1, "ChartPathInvalid"),
    ("GET", "//index.yaml", "", 1, "ChartPathInvalid"),
    ("GET", "/org1%2f..%2findex.yaml", "", 1, "ChartPathInvalid"),
    ("GET", "/%2e%2e/index.yaml", "", 1, "ChartPathInvalid"),
    ("GET", "/org1/../charts/x.tgz", "", 2, "ChartPathInvalid"),
    ("GET", "/Org1/index.yaml", "", 1, "ChartPathInvalid"),
    ("GET", "/org1/charts/..tgz", "", 1, "ChartPathInvalid"),
    ("GET", "/org1/charts/.x.tgz", "", 1, "ChartPathInvalid"),
    ("GET", "/org1/charts/a%20b.tgz", "", 1, "ChartPathInvalid"),
    // The ChartMuseum API.
    ("GET", "/api/charts", "", 0, "artifact-repository:repo:pull"),
    ("POST", "/api/charts", "", 0, "artifact-repository:repo:push"),
    ("GET", "/api/org1/charts", "", 1, "artifact-repository:org1:pull"),
    ("POST", "/api/org1/charts", "", 1, "artifact-repository:org1:push"),
    ("POST", "/api/org1/prov", "", 1, "artifact-repository:org1:push"),
    ("PUT", "/api/org1/charts", "", 1, "artifact-repository:org1:push"),
    ("GET", "/api/org1/charts/app", "", 1, "artifact-repository:org1:pull"),
    ("HEAD", "/api/org1/charts/app/1.0.0", "", 1, "artifact-repository:org1:pull"),
    ("DELETE", "/api/org1/charts/app/1.0.0", "", 1, "artifact-repository:org1:delete"),
    ("GET", "/api/org1/repo1/charts/app/1.0.0/values", "", 2, "artifact-repository:org1/repo1:pull"),
    ("GET", "/api/org1/charts/app/1.0.0/templates", "", 1, "artifact-repository:org1:pull"),
    ("GET", "/api/org1/charts/app/1.0.0/secrets", "", 1, "NotFound"),
    ("GET", "/api/org1/charts/a/b/c/d", "", 1, "NotFound"),
    ("GET", "/api/org1/charts/../x", "", 1, "ChartPathInvalid"),
    ("GET", "/api/../charts", "", 1, "ChartPathInvalid"),
    ("PATCH", "/api/org1/charts", "", 1, "MethodNotAllowed"),
    ("GET", "/api/charts", "", 1, "NotFound"),
    ("GET", "/api/org1/other", "", 1, "NotFound"),
];

/// The table's expectation as a value: scopes `type:name:actions` (space-separated), "auth",
/// or the name of a `RouteError` variant.
fn expected(spec: &str) -> Result<Required, RouteError> {
    if spec == "auth" {
        return Ok(Required::Authenticated);
    }
    if spec.contains(':') {
        let list = spec.split(' ').map(|scope| {
            let (t, rest) = scope.split_once(':').unwrap();
            let (name, actions) = rest.rsplit_once(':').unwrap();
            access(t, name, &actions.split(',').collect::<Vec<_>>())
        });
        return Ok(Required::Access(list.collect()));
    }
    let all = [
        RouteError::NotFound,
        RouteError::MethodNotAllowed,
        RouteError::NameInvalid,
        RouteError::DigestInvalid,
        RouteError::TagInvalid,
        RouteError::UploadInvalid,
        RouteError::ChartPathInvalid,
        RouteError::QueryInvalid,
        RouteError::PathTooLong,
    ];
    Err(all.into_iter().find(|e| format!("{e:?}") == spec).unwrap())
}

#[test]
fn every_route_demands_its_table_row() {
    for &(method, path, query, depth, want) in ROUTES {
        let (path, query) = (path.replace("{D}", D), query.replace("{D}", D));
        assert_eq!(
            required_access(method, &path, &query, &flat(depth)),
            expected(want),
            "{method} {path}?{query} at depth {depth}"
        );
    }
}

#[test]
fn upload_sessions_are_classified_with_their_id() {
    assert_eq!(
        classify("/v2/org/app/blobs/uploads/u-1", &flat(0)),
        Ok(Endpoint::Upload {
            name: "org/app".into(),
            id: "u-1".into()
        })
    );
}

/// Asserts `check` says `want` for every input in `cases`.
#[track_caller]
fn grammar(check: fn(&str) -> bool, cases: &[(&str, bool)]) {
    for (input, want) in cases {
        assert_eq!(check(input), *want, "{input:?}");
    }
}

#[test]
fn valid_name_grammar_edges() {
    grammar(
        valid_repository_name,
        &[
            ("a", true),
            ("a.b_c__d---e/f0", true),
            (&"a".repeat(255), true),
            (&"a".repeat(256), false),
            ("a/", false),
            ("", false),
            ("a._b", false),
            ("localhost:5000/a", false),
        ],
    );
}

#[test]
fn tags_and_digests() {
    grammar(
        valid_tag,
        &[
            ("latest", true),
            ("_x.Y-1", true),
            (&"a".repeat(128), true),
            (&"a".repeat(129), false),
            (".hidden", false),
            ("-x", false),
            ("a:b", false),
        ],
    );
    assert!(valid_digest(D));
    assert!(valid_digest(
        "sha256+b64u.x:0123456789abcdef0123456789abcdef"
    ));
    assert!(!valid_digest("sha256:0123456789abcdef0123456789abcde")); // 31 hex
    assert!(!valid_digest("sha256:xyz456789abcdef0123456789abcdef0"));
    assert!(!valid_digest(":0123456789abcdef0123456789abcdef"));
    assert!(!valid_digest("1sha:0123456789abcdef0123456789abcdef"));
    assert!(!valid_digest("sha256-:0123456789abcdef0123456789abcdef"));
    assert!(!valid_digest(&format!("sha256:{}", "a".repeat(300))));
}

#[test]
fn an_overlong_query_is_refused() {
    let q = "x".repeat(MAX_FORM_LEN + 1);
    assert_eq!(
        required_access("POST", "/v2/app/blobs/uploads/", &q, &flat(1)),
        Err(RouteError::QueryInvalid)
    );
}

#[test]
fn overlong_path_is_refused() {
    let p = format!("/v2/{}/tags/list", "a/".repeat(MAX_PATH_LEN));
    assert_eq!(req("GET", &p), Err(RouteError::PathTooLong));
    assert_eq!(RouteError::PathTooLong.status(), 414);
}

#[test]
fn chart_layout_bounds() {
    assert!(ChartLayout::new(MAX_CHART_DEPTH).is_ok());
    let err = ChartLayout::new(MAX_CHART_DEPTH + 1).unwrap_err();
    assert!(err.to_string().contains("CHART_DEPTH"));
}

#[test]
fn cacheable_only_immutable_gets() {
    let l = flat(1);
    assert!(cacheable("GET", &format!("/v2/a/b/blobs/{D}"), &l));
    assert!(!cacheable("HEAD", &format!("/v2/a/blobs/{D}"), &l));
    assert!(!cacheable("DELETE", &format!("/v2/a/blobs/{D}"), &l));
    assert!(!cacheable("GET", "/v2/a/manifests/latest", &l));
    assert!(!cacheable("GET", "/v2/a/tags/list", &l));
    assert!(!cacheable("GET", "/v2/a/blobs/uploads/x", &l));
    assert!(cacheable("GET", "/org1/charts/app-1.0.0.tgz", &l));
    assert!(cacheable("GET", "/org1/app-1.0.0.tgz", &l));
    assert!(!cacheable("GET", "/org1/app-1.0.0.tgz.prov", &l));
    assert!(!cacheable("GET", "/org1/index.yaml", &l));
    assert!(!cacheable("GET", "/org1/../app-1.0.0.tgz", &l));
}

#[test]
fn scope_param_renders_like_the_registry() {
    let r = Required::Access(vec![
        access("repository", "org/app", &["pull", "push"]),
        access("repository", "org/base", &["pull"]),
    ]);
    assert_eq!(
        r.scope_param(),
        "repository:org/app:pull,push repository:org/base:pull"
    );
    assert_eq!(Required::Authenticated.scope_param(), "");
}

#[test]
fn errors_have_status_and_code() {
    assert_eq!(RouteError::NameInvalid.status(), 400);
    assert_eq!(RouteError::NameInvalid.code(), "NAME_INVALID");
    assert_eq!(RouteError::NotFound.status(), 404);
    assert_eq!(RouteError::MethodNotAllowed.status(), 405);
    assert_eq!(RouteError::DigestInvalid.code(), "DIGEST_INVALID");
}
