//! The proxy's decision for one request: forward it (and where), or refuse it (and how).
//!
//! Order matters and is fixed: map the path to the access it needs (unknown paths never reach
//! authentication or the origin), read the credential, verify it, check the grant. Bearer tokens
//! are verified by the token service's own verifier (same keys, alg pinned, iss/aud/exp/nbf with
//! leeway) and cached in the isolate; Basic credentials go through the token endpoint's own
//! credential check and ACL (see [`Authority`]), so the proxy and the token endpoint can never
//! disagree about who may do what.

use super::authorize::{check_access, refusal_response, route_error_response, Refusal};
use super::cache::{VerifiedToken, VerifyCache};
use super::config::ProxySettings;
use super::headers::PublicHost;
use super::route::{cacheable_endpoint, classify, required_for, Endpoint, Required};
use crate::federation::Fetch;
use crate::limits::{MAX_AUTHORIZATION_LEN, MAX_TOKEN_LEN};
use crate::protocol::HttpResponse;
use crate::service::{AuthError, Rejected, RequestContext};
use crate::store::Store;
use crate::token::Access;
use std::cell::RefCell;

/// What Basic credentials were granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasicGrant {
    pub account: String,
    /// The requested access, narrowed by the ACL (the token endpoint's intersection).
    pub access: Vec<Access>,
}

/// The token service's verification and authorization, as the proxy needs them. Implemented for
/// the token endpoint's `App`; tests use a fake.
#[allow(async_fn_in_trait)] // single-threaded wasm: no Send bound wanted
pub trait Authority {
    /// Verifies a bearer token for `audience` at `now` (signature, alg, kid, iss, aud, exp, nbf).
    fn verify_token(
        &self,
        token: &str,
        audience: &str,
        now: u64,
    ) -> Result<VerifiedToken, Rejected>;

    /// Checks a `Basic ...` Authorization value against KV and grants `requested` through the ACL
    /// for `service`, exactly as a token request with those scopes would be.
    async fn grant_basic<S: Store, F: Fetch>(
        &self,
        authorization: &str,
        service: &str,
        requested: &[Access],
        ctx: &RequestContext<'_, S, F>,
    ) -> Result<BasicGrant, AuthError>;
}

/// The parts of a request the decision depends on.
#[derive(Debug, Clone)]
pub struct RequestMeta<'a> {
    pub method: &'a str,
    /// Raw path (percent-encoding as received).
    pub path: &'a str,
    /// Raw query without `?`.
    pub query: &'a str,
    /// Every Authorization header value (a repeated header is refused).
    pub authorization: Vec<&'a str>,
    pub content_type: Option<&'a str>,
    /// How many header fields the request has: more than `MAX_REQUEST_HEADERS` is a 431, so
    /// nothing is ever decided on a trimmed header set.
    pub header_count: usize,
    /// How the client reached us (for the realm and `Location` rewriting).
    pub public: &'a PublicHost,
}

/// Who was let through, for the audit line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Token { subject: String, cached: bool },
    Basic { account: String },
}

impl Principal {
    pub fn name(&self) -> &str {
        match self {
            Principal::Token { subject, .. } => subject,
            Principal::Basic { account } => account,
        }
    }
}

/// The outcome for one request.
#[derive(Debug)]
pub enum Decision {
    /// Forward to `url` (ORIGIN + the validated path + the raw query).
    Forward {
        url: String,
        principal: Principal,
        /// The edge-cache key when the response may be answered from / stored in the edge cache
        /// (immutable content, authorized): Tollgate's public URL with exactly the path and
        /// query the origin is asked for, so two requests share an entry only if the origin
        /// would see the same request line.
        cache_key: Option<String>,
        endpoint: Endpoint,
    },
    /// `GET /v2/_catalog` from a caller without `registry:catalog:*`: answer with the origin's
    /// catalog filtered to what `subject` may pull (issue 16, catalog.rs).
    FilteredCatalog {
        subject: String,
        query: super::catalog::CatalogQuery,
    },
    /// Answer with this response; `reason` is a short code for the log line.
    Refuse {
        response: Box<HttpResponse>,
        reason: &'static str,
    },
}

/// The proxy of one isolate: settings plus the verified-token cache.
#[derive(Debug)]
pub struct Gate {
    settings: ProxySettings,
    /// REALM from the token service settings; `None`: `<public host>/token`.
    realm: Option<String>,
    tokens: RefCell<VerifyCache>,
}

enum Credential<'a> {
    None,
    Bearer(&'a str),
    Basic(&'a str),
    Malformed,
}

fn credential<'a>(values: &[&'a str]) -> Credential<'a> {
    let value = match values {
        [] => return Credential::None,
        [one] => *one,
        _ => return Credential::Malformed,
    };
    if value.len() > MAX_AUTHORIZATION_LEN {
        return Credential::Malformed;
    }
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
        Credential::Bearer(rest)
    } else if scheme.eq_ignore_ascii_case("basic") && !rest.is_empty() {
        Credential::Basic(value)
    } else {
        Credential::Malformed
    }
}

impl Gate {
    pub fn new(settings: ProxySettings, realm: Option<String>) -> Self {
        Self {
            settings,
            realm,
            tokens: RefCell::new(VerifyCache::default()),
        }
    }

    pub fn settings(&self) -> &ProxySettings {
        &self.settings
    }

    /// The token endpoint URL named in challenges.
    pub(crate) fn realm(&self, public: &PublicHost) -> String {
        match &self.realm {
            Some(r) => r.clone(),
            None => format!("{}://{}/token", public.scheme, public.host),
        }
    }

    /// Decides one request. Never panics; every refusal is a complete response.
    pub async fn decide<S: Store, F: Fetch>(
        &self,
        authority: &impl Authority,
        req: &RequestMeta<'_>,
        ctx: &RequestContext<'_, S, F>,
    ) -> Decision {
        let now = ctx.now;
        if let Some(e) = crate::service::too_many_headers(req.header_count) {
            return Decision::Refuse {
                response: Box::new(super::authorize::server_error_response(
                    e.kind.status(),
                    &e.message,
                )),
                reason: "too_many_headers",
            };
        }
        let chart = &self.settings.chart;
        // One parse of the path: the endpoint decides the scope, the cacheability and the checks.
        let routed = classify(req.path, chart)
            .and_then(|e| required_for(&e, req.method, req.query).map(|r| (e, r)));
        let (endpoint, required) = match routed {
            Ok(pair) => pair,
            Err(e) => {
                return Decision::Refuse {
                    response: Box::new(route_error_response(e)),
                    reason: "route",
                }
            }
        };
        if origin_reads_form(&endpoint) && form_body(req.content_type) {
            // docker-registry reads `from`, `mount` and `digest` with Go's r.FormValue, which also
            // parses urlencoded bodies (POST/PUT/PATCH) and multipart bodies (any method) when
            // the query lacks them: such a body could name a mount source we never authorized.
            // The required access comes from the query alone, so no body may carry form values.
            return Decision::Refuse {
                response: Box::new(super::authorize::server_error_response(
                    415,
                    "form bodies (multipart/* or application/x-www-form-urlencoded) are not \
                     accepted on registry endpoints; send application/octet-stream or the \
                     manifest media type, and put parameters in the query string",
                )),
                reason: "form_body",
            };
        }
        let realm = self.realm(req.public);
        let service = self.settings.service.as_str();
        let refuse = |refusal: Refusal, reason: &'static str| Decision::Refuse {
            response: Box::new(refusal_response(refusal, &required, &realm, service)),
            reason,
        };
        let principal = match credential(&req.authorization) {
            Credential::None => return refuse(Refusal::Unauthenticated, "no_credentials"),
            Credential::Malformed => {
                return refuse(Refusal::MalformedAuthorization, "malformed_authorization")
            }
            Credential::Bearer(token) => {
                if token.len() > MAX_TOKEN_LEN {
                    return refuse(Refusal::InvalidToken, "token_too_long");
                }
                let cached = self.tokens.borrow().get(token, now).cloned();
                let (verified, was_cached) = match cached {
                    Some(v) => (v, true),
                    None => match authority.verify_token(token, service, now) {
                        Ok(v) => {
                            self.tokens.borrow_mut().insert(token, v.clone(), now);
                            (v, false)
                        }
                        // The client sees only invalid_token (a probe learns nothing about which
                        // check failed); the reason goes to the log line.
                        Err(why) => return refuse(Refusal::InvalidToken, why.as_str()),
                    },
                };
                // A network-bound token (its `net` claim, issue 16) copied off its network is
                // refused on every request, cached or not, as its credential would be.
                if let Err(why) = crate::netbind::admit(verified.net.as_ref(), ctx.client_net()) {
                    return super::netbound::refuse(&why);
                }
                if check_access(&verified.access, &required).is_err() {
                    // The filtered catalog (issue 16): what the caller may pull, not a 401.
                    if endpoint == Endpoint::Catalog {
                        return super::catalog::filtered(&verified.subject, req.query);
                    }
                    return refuse(Refusal::InsufficientScope, "insufficient_scope");
                }
                Principal::Token {
                    subject: verified.subject,
                    cached: was_cached,
                }
            }
            Credential::Basic(value) => {
                let requested: &[Access] = match &required {
                    Required::Authenticated => &[],
                    Required::Access(list) => list,
                };
                match authority.grant_basic(value, service, requested, ctx).await {
                    Ok(grant) => {
                        if check_access(&grant.access, &required).is_err() {
                            // The filtered catalog (issue 16): what the caller may pull, not a 401.
                            if endpoint == Endpoint::Catalog {
                                return super::catalog::filtered(&grant.account, req.query);
                            }
                            return refuse(Refusal::Denied, "denied");
                        }
                        Principal::Basic {
                            account: grant.account,
                        }
                    }
                    Err(e) => return refuse_auth(e, refuse),
                }
            }
        };
        let cache_key = cacheable_endpoint(&endpoint, req.method).then(|| {
            let mut key = format!("{}://{}{}", req.public.scheme, req.public.host, req.path);
            if !req.query.is_empty() {
                key.push('?');
                key.push_str(req.query);
            }
            key
        });
        Decision::Forward {
            url: self.settings.origin_url(req.path, req.query),
            principal,
            cache_key,
            endpoint,
        }
    }
}

/// The proxy's rendering of an authentication failure, in the registry's protocol.
fn refuse_auth(e: AuthError, refuse: impl Fn(Refusal, &'static str) -> Decision) -> Decision {
    let error = |status, message: &str, reason| Decision::Refuse {
        response: Box::new(super::authorize::server_error_response(status, message)),
        reason,
    };
    match e {
        AuthError::Rejected(_) => refuse(Refusal::InvalidCredentials, "invalid_credentials"),
        AuthError::Malformed(_) => {
            refuse(Refusal::MalformedAuthorization, "malformed_authorization")
        }
        AuthError::Network { refusal, .. } => super::netbound::refuse(&refusal),
        AuthError::Throttled { retry_after } => Decision::Refuse {
            response: Box::new(super::authorize::too_many_requests_response(retry_after)),
            reason: "throttled",
        },
        AuthError::Broken(_) => error(
            500,
            "a stored credential record is malformed; nothing was forwarded",
            "store_malformed",
        ),
        _ => error(
            503,
            "credential storage is unavailable; nothing was forwarded, try again",
            "store_unavailable",
        ),
    }
}

/// Whether the origin behind this endpoint may read form values (Go's `r.FormValue`) that
/// decide access: every distribution endpoint. Chart endpoints are excluded: ChartMuseum takes the
/// namespace from the path alone, and its upload API is a multipart form by design.
fn origin_reads_form(endpoint: &Endpoint) -> bool {
    !matches!(
        endpoint,
        Endpoint::ChartIndex { .. } | Endpoint::ChartFile { .. } | Endpoint::ChartApi { .. }
    )
}

/// Whether a form parser might read this body: a Content-Type that names a form media type
/// anywhere, in any case, with any parameters. Deliberately broader than a media-type parse:
/// Go's `mime.ParseMediaType` returns the type even when the parameters are malformed, and
/// several Content-Type headers reach the origin joined by commas, so only "mentions no form
/// type at all" is safe. Every registry client sends octet-stream or a manifest type here.
fn form_body(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else {
        return false;
    };
    let lower = ct.to_ascii_lowercase();
    ["multipart/", "x-www-form-urlencoded", "form-data"]
        .iter()
        .any(|t| lower.contains(t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use crate::federation::NoFetch;
    use crate::store::MemoryStore;
    use std::cell::Cell;
    use std::collections::HashMap;

    const D: &str = "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";

    /// A fake token service: tokens are "tok-<name>", Basic users are listed with their grants.
    struct Fake {
        tokens: HashMap<&'static str, VerifiedToken>,
        users: HashMap<&'static str, Vec<Access>>,
        verifications: Cell<u32>,
        basic_calls: Cell<u32>,
        fail_store: bool,
        audience_seen: RefCell<Vec<String>>,
    }

    fn a(t: &str, n: &str, actions: &[&str]) -> Access {
        Access {
            resource_type: t.into(),
            name: n.into(),
            actions: actions.iter().map(|s| s.to_string()).collect(),
        }
    }

    impl Fake {
        fn new() -> Self {
            let mut tokens = HashMap::new();
            tokens.insert(
                "tok-pusher",
                VerifiedToken {
                    subject: "pusher".into(),
                    access: vec![a("repository", "org/app", &["pull", "push"])],
                    exp: 2000,
                    net: None,
                },
            );
            tokens.insert(
                "tok-puller",
                VerifiedToken {
                    subject: "puller".into(),
                    access: vec![a("repository", "org/app", &["pull"])],
                    exp: 2000,
                    net: None,
                },
            );
            let mut users = HashMap::new();
            // "Basic " + base64("helm:key") and a user with nothing.
            users.insert(
                "Basic aGVsbTprZXk=",
                vec![a("artifact-repository", "org1", &["pull"])],
            );
            users.insert("Basic bm9ib2R5OnB3", vec![]);
            Fake {
                tokens,
                users,
                verifications: Cell::new(0),
                basic_calls: Cell::new(0),
                fail_store: false,
                audience_seen: RefCell::new(vec![]),
            }
        }
    }

    impl Authority for Fake {
        fn verify_token(
            &self,
            token: &str,
            audience: &str,
            now: u64,
        ) -> Result<VerifiedToken, Rejected> {
            self.verifications.set(self.verifications.get() + 1);
            self.audience_seen.borrow_mut().push(audience.to_string());
            match self.tokens.get(token) {
                Some(v) if now < v.exp => Ok(v.clone()),
                Some(_) => Err(Rejected::Expired),
                None => Err(Rejected::BadSignature),
            }
        }

        async fn grant_basic<S: Store, F: Fetch>(
            &self,
            authorization: &str,
            _service: &str,
            requested: &[Access],
            _ctx: &RequestContext<'_, S, F>,
        ) -> Result<BasicGrant, AuthError> {
            self.basic_calls.set(self.basic_calls.get() + 1);
            if self.fail_store {
                return Err(AuthError::Unavailable("kv down".into()));
            }
            let allowed = self
                .users
                .get(authorization)
                .ok_or(AuthError::Rejected("wrong".into()))?;
            // Intersect requested with allowed, like the ACL would.
            let access = requested
                .iter()
                .filter_map(|r| {
                    let acts: Vec<String> = allowed
                        .iter()
                        .filter(|g| g.resource_type == r.resource_type && g.name == r.name)
                        .flat_map(|g| g.actions.clone())
                        .filter(|x| r.actions.contains(x))
                        .collect();
                    (!acts.is_empty()).then(|| Access {
                        actions: acts,
                        ..r.clone()
                    })
                })
                .collect();
            Ok(BasicGrant {
                account: "helm".into(),
                access,
            })
        }
    }

    fn gate(depth: &str) -> Gate {
        let vars: HashMap<&str, &str> = [
            ("ISSUER", "tollgate-dev"),
            ("SERVICES", "registry.local"),
            ("SIGNING_KEY", "x"),
        ]
        .into_iter()
        .collect();
        let settings =
            Settings::from_vars(|k| vars.get(k).map(|v| v.to_string())).expect("settings");
        let pvars: HashMap<&str, &str> =
            [("ORIGIN", "http://127.0.0.1:5001"), ("CHART_DEPTH", depth)]
                .into_iter()
                .collect();
        let p = ProxySettings::from_vars(|k| pvars.get(k).map(|v| v.to_string()), &settings)
            .expect("proxy settings");
        Gate::new(p, None)
    }

    fn public() -> PublicHost {
        PublicHost {
            scheme: "http".into(),
            host: "127.0.0.1:8787".into(),
        }
    }

    /// A request with three header fields and no Content-Type; tests override the rest.
    fn meta<'a>(
        p: &'a PublicHost,
        method: &'a str,
        path: &'a str,
        query: &'a str,
        auth: &[&'a str],
    ) -> RequestMeta<'a> {
        RequestMeta {
            method,
            path,
            query,
            authorization: auth.to_vec(),
            content_type: None,
            header_count: 3,
            public: p,
        }
    }

    fn run(g: &Gate, f: &Fake, method: &str, path: &str, query: &str, auth: &[&str]) -> Decision {
        let p = public();
        let meta = meta(&p, method, path, query, auth);
        let store = MemoryStore::new();
        block_on(g.decide(f, &meta, &ctx(&store, 1000)))
    }

    use crate::test_support::block_on;

    fn ctx(store: &MemoryStore, now: u64) -> RequestContext<'_, MemoryStore, NoFetch> {
        RequestContext::without_randomness(store, &NoFetch, now)
    }

    fn refused(d: &Decision) -> (u16, &'static str, Option<String>) {
        match d {
            Decision::Refuse { response, reason } => (
                response.status,
                *reason,
                response.header("www-authenticate").map(str::to_string),
            ),
            _ => panic!("expected a refusal, got {d:?}"),
        }
    }

    fn forwarded(d: &Decision) -> (&str, &Principal, bool) {
        match d {
            Decision::Forward {
                url,
                principal,
                cache_key,
                ..
            } => (url, principal, cache_key.is_some()),
            _ => panic!("expected forwarding, got {d:?}"),
        }
    }

    #[test]
    fn anonymous_gets_the_registry_challenge() {
        let (g, f) = (gate("1"), Fake::new());
        let d = run(&g, &f, "POST", "/v2/org/app/blobs/uploads/", "", &[]);
        let (status, reason, chal) = refused(&d);
        assert_eq!((status, reason), (401, "no_credentials"));
        assert_eq!(
            chal.as_deref(),
            Some(
                r#"Bearer realm="http://127.0.0.1:8787/token",service="registry.local",scope="repository:org/app:pull,push""#
            )
        );
    }

    #[test]
    fn push_token_forwards_to_the_origin_only() {
        let (g, f) = (gate("1"), Fake::new());
        let d = run(
            &g,
            &f,
            "PUT",
            "/v2/org/app/manifests/v1",
            "",
            &["Bearer tok-pusher"],
        );
        let (url, who, cacheable) = forwarded(&d);
        assert_eq!(url, "http://127.0.0.1:5001/v2/org/app/manifests/v1");
        assert_eq!(who.name(), "pusher");
        assert!(!cacheable);
        assert_eq!(f.audience_seen.borrow()[0], "registry.local");
    }

    #[test]
    fn pull_only_token_push_is_insufficient_scope() {
        let (g, f) = (gate("1"), Fake::new());
        let d = run(
            &g,
            &f,
            "POST",
            "/v2/org/app/blobs/uploads/",
            "",
            &["Bearer tok-puller"],
        );
        let (status, reason, chal) = refused(&d);
        assert_eq!((status, reason), (401, "insufficient_scope"));
        assert!(chal.unwrap().ends_with(r#"error="insufficient_scope""#));
        // But pulls of a blob go through, and are cacheable.
        let d = run(
            &g,
            &f,
            "GET",
            &format!("/v2/org/app/blobs/{D}"),
            "",
            &["Bearer tok-puller"],
        );
        assert!(forwarded(&d).2);
    }

    #[test]
    fn cache_key_is_exactly_what_the_origin_is_asked_for() {
        // Finding 5 of issue 12: the key ignored the query the origin saw.
        let (g, f) = (gate("1"), Fake::new());
        let path = format!("/v2/org/app/blobs/{D}");
        let key = |query: &str| match run(&g, &f, "GET", &path, query, &["Bearer tok-puller"]) {
            Decision::Forward { url, cache_key, .. } => {
                let key = cache_key.expect("a blob GET is cacheable");
                // Same path and query as the origin URL, on Tollgate's public host.
                let origin_part = url.strip_prefix("http://127.0.0.1:5001").unwrap();
                assert_eq!(key, format!("http://127.0.0.1:8787{origin_part}"));
                key
            }
            d => panic!("refused {d:?}"),
        };
        assert_ne!(key(""), key("ns=other"));
        assert_ne!(key("a=1"), key("a=2"));
        assert_eq!(key("a=1"), key("a=1"));
    }

    #[test]
    fn bad_token_is_invalid_token() {
        let (g, f) = (gate("1"), Fake::new());
        let d = run(&g, &f, "GET", "/v2/", "", &["Bearer forged"]);
        let (status, reason, chal) = refused(&d);
        assert_eq!((status, reason), (401, "bad_signature"));
        assert_eq!(
            chal.as_deref(),
            Some(
                r#"Bearer realm="http://127.0.0.1:8787/token",service="registry.local",error="invalid_token""#
            )
        );
        let long = format!("Bearer {}", "a".repeat(MAX_TOKEN_LEN + 1));
        let d = run(&g, &f, "GET", "/v2/", "", &[long.as_str()]);
        // Longer than any Authorization header we read: refused before any verification.
        assert_eq!(refused(&d).0, 400);
        assert_eq!(f.verifications.get(), 1);
    }

    #[test]
    fn verification_is_cached_until_exp() {
        let (g, f) = (gate("1"), Fake::new());
        for _ in 0..5 {
            let d = run(
                &g,
                &f,
                "GET",
                "/v2/org/app/tags/list",
                "",
                &["Bearer tok-puller"],
            );
            forwarded(&d);
        }
        assert_eq!(f.verifications.get(), 1);
        // The cached grant is still checked per request.
        let d = run(
            &g,
            &f,
            "DELETE",
            "/v2/org/app/manifests/v1",
            "",
            &["Bearer tok-puller"],
        );
        assert_eq!(refused(&d).1, "insufficient_scope");
        assert_eq!(f.verifications.get(), 1);
        // Past exp, the cache does not answer and the verifier refuses.
        let p = public();
        let meta = meta(&p, "GET", "/v2/", "", &["Bearer tok-puller"]);
        let d = block_on(g.decide(&f, &meta, &ctx(&MemoryStore::new(), 2000)));
        assert_eq!(refused(&d).1, "expired");
    }

    #[test]
    fn mount_requires_pull_on_source() {
        let (g, f) = (gate("1"), Fake::new());
        let q = format!("mount={D}&from=other/base");
        let d = run(
            &g,
            &f,
            "POST",
            "/v2/org/app/blobs/uploads/",
            &q,
            &["Bearer tok-pusher"],
        );
        let (status, _, chal) = refused(&d);
        assert_eq!(status, 401);
        assert!(chal
            .unwrap()
            .contains(r#"scope="repository:org/app:pull,push repository:other/base:pull""#));
    }

    #[test]
    fn basic_credentials_for_charts() {
        let (g, f) = (gate("1"), Fake::new());
        let helm = "Basic aGVsbTprZXk=";
        let d = run(&g, &f, "GET", "/org1/index.yaml", "", &[helm]);
        let (url, who, cacheable) = forwarded(&d);
        assert_eq!(url, "http://127.0.0.1:5001/org1/index.yaml");
        assert_eq!(
            who,
            &Principal::Basic {
                account: "helm".into()
            }
        );
        assert!(!cacheable);
        let d = run(&g, &f, "GET", "/org1/charts/app-1.0.0.tgz", "", &[helm]);
        assert!(forwarded(&d).2);
        // Another namespace: authenticated but not allowed -> 403, no challenge.
        let d = run(&g, &f, "GET", "/org2/index.yaml", "", &[helm]);
        assert_eq!(refused(&d), (403, "denied", None));
        // A user the ACL gives nothing.
        let d = run(
            &g,
            &f,
            "GET",
            "/org1/index.yaml",
            "",
            &["Basic bm9ib2R5OnB3"],
        );
        assert_eq!(refused(&d).0, 403);
        // Wrong password.
        let d = run(
            &g,
            &f,
            "GET",
            "/org1/index.yaml",
            "",
            &["Basic d3Jvbmc6eA=="],
        );
        let (status, reason, chal) = refused(&d);
        assert_eq!((status, reason), (401, "invalid_credentials"));
        assert!(chal.unwrap().contains("artifact-repository:org1:pull"));
    }

    #[test]
    fn store_failure_fails_closed() {
        let g = gate("1");
        let mut f = Fake::new();
        f.fail_store = true;
        let d = run(
            &g,
            &f,
            "GET",
            "/org1/index.yaml",
            "",
            &["Basic aGVsbTprZXk="],
        );
        assert_eq!(refused(&d).0, 503);
    }

    #[test]
    fn malformed_or_repeated_authorization() {
        let (g, f) = (gate("1"), Fake::new());
        for auth in [
            vec!["Digest x"],
            vec!["Bearer"],
            vec!["Bearer tok-pusher", "Bearer tok-pusher"],
        ] {
            let d = run(&g, &f, "GET", "/v2/", "", &auth);
            assert_eq!(refused(&d).0, 400, "{auth:?}");
        }
        assert_eq!(f.verifications.get(), 0);
    }

    #[test]
    fn routes_are_checked_before_credentials() {
        let (g, f) = (gate("1"), Fake::new());
        let d = run(
            &g,
            &f,
            "GET",
            "/v2/a%2F..%2Fb/tags/list",
            "",
            &["Bearer tok-pusher"],
        );
        assert_eq!(refused(&d), (400, "route", None));
        let d = run(&g, &f, "GET", "/etc/passwd", "", &[]);
        assert_eq!(refused(&d).0, 404);
        assert_eq!(f.verifications.get(), 0);
        assert_eq!(f.basic_calls.get(), 0);
    }

    #[test]
    fn form_bodies_on_registry_endpoints_are_refused() {
        // Finding 1 of issue 12: `-F from=org/secret` (multipart) mounted a blob the caller
        // could not read, because the origin's r.FormValue read the body. Every spelling a form
        // parser accepts is refused, on every registry endpoint and method, before credentials.
        let (g, f) = (gate("1"), Fake::new());
        let p = public();
        let forms = [
            "application/x-www-form-urlencoded",
            "application/x-www-form-urlencoded; charset=utf-8",
            "APPLICATION/X-WWW-FORM-URLENCODED",
            "multipart/form-data; boundary=------------------------abc",
            "Multipart/Form-Data;boundary=x",
            "multipart/mixed; boundary=x",
            " multipart/form-data",
            "text/plain, multipart/form-data; boundary=x",
            "application/x-www-form-urlencoded;;;",
            "form-data",
        ];
        let routes = [
            ("POST", "/v2/alice/w/blobs/uploads/", "mount=sha256:aa"),
            ("POST", "/v2/alice/w/blobs/uploads/", ""),
            ("PUT", "/v2/alice/w/blobs/uploads/u1", ""),
            ("PATCH", "/v2/alice/w/blobs/uploads/u1", ""),
            ("PUT", "/v2/alice/w/manifests/v1", ""),
            ("GET", "/v2/alice/w/tags/list", ""),
            ("DELETE", "/v2/alice/w/blobs/uploads/u1", ""),
        ];
        for ct in forms {
            for (method, path, query) in routes {
                let meta = RequestMeta {
                    content_type: Some(ct),
                    ..meta(&p, method, path, query, &["Bearer tok-pusher"])
                };
                let d = block_on(g.decide(&f, &meta, &ctx(&MemoryStore::new(), 1000)));
                assert_eq!(refused(&d).0, 415, "{method} {path} {ct}");
                assert_eq!(refused(&d).1, "form_body");
            }
        }
        assert_eq!(
            f.verifications.get(),
            0,
            "refused before any credential work"
        );
        for ok in [
            None,
            Some("application/octet-stream"),
            Some("application/vnd.oci.image.manifest.v1+json"),
        ] {
            assert!(!form_body(ok), "{ok:?}");
        }
    }

    #[test]
    fn oversized_header_sets_are_refused_whole() {
        // Finding 4 of issue 12: padding pushed CF-Connecting-IP out of a trimmed header set.
        let (g, f) = (gate("1"), Fake::new());
        let p = public();
        for (count, want) in [(100, None), (101, Some(431)), (10_000, Some(431))] {
            let meta = RequestMeta {
                header_count: count,
                ..meta(&p, "GET", "/v2/", "", &["Bearer tok-puller"])
            };
            let d = block_on(g.decide(&f, &meta, &ctx(&MemoryStore::new(), 1000)));
            match want {
                None => assert!(matches!(d, Decision::Forward { .. }), "{count}"),
                Some(st) => assert_eq!(refused(&d), (st, "too_many_headers", None)),
            }
        }
    }

    #[test]
    fn chart_uploads_may_be_multipart() {
        // ChartMuseum's upload API is a multipart form and its access comes from the path.
        let g = gate("1");
        let p = public();
        let meta = RequestMeta {
            content_type: Some("multipart/form-data; boundary=x"),
            ..meta(&p, "POST", "/api/org1/charts", "", &[])
        };
        let d = block_on(g.decide(&Fake::new(), &meta, &ctx(&MemoryStore::new(), 1000)));
        assert_ne!(refused(&d).1, "form_body");
    }

    #[test]
    fn configured_realm_wins() {
        let g = Gate::new(
            gate("0").settings().clone(),
            Some("https://auth.example/token".into()),
        );
        assert_eq!(g.realm(&public()), "https://auth.example/token");
        let f = Fake::new();
        let d = run(&g, &f, "GET", "/index.yaml", "", &[]);
        assert!(refused(&d)
            .2
            .unwrap()
            .contains(r#"realm="https://auth.example/token""#));
        assert!(refused(&d)
            .2
            .unwrap()
            .contains("artifact-repository:repo:pull"));
    }
}
