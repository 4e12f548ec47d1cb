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
use crate::limits::{MAX_AUTHORIZATION_LEN, MAX_TOKEN_LEN};
use crate::protocol::HttpResponse;
use crate::store::Store;
use crate::token::Access;
use std::cell::RefCell;

/// Why a bearer token was not accepted. Only a code for logs; the client always sees
/// `invalid_token`, so a probe learns nothing about which check failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRejected(pub &'static str);

/// Why Basic credentials were not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BasicRejected {
    /// Wrong, unknown or disabled credentials.
    InvalidCredentials,
    /// The header is not `Basic base64(user:secret)`.
    Malformed,
    /// Storage failed or a record is malformed: fail closed with a 5xx. The message is for logs
    /// and holds no secret.
    Unavailable(String),
    /// Too many failed logins for the account or client address: 429 with `Retry-After`.
    Throttled { retry_after: u64 },
}

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
    ) -> Result<VerifiedToken, TokenRejected>;

    /// Checks a `Basic ...` Authorization value against KV and grants `requested` through the ACL
    /// for `service`, exactly as a token request with those scopes would be.
    async fn grant_basic(
        &self,
        authorization: &str,
        service: &str,
        requested: &[Access],
        store: &impl Store,
        now: u64,
    ) -> Result<BasicGrant, BasicRejected>;

    /// Whether the caller's network may use a token with this binding (`net` claim, issue 16).
    /// Checked on every request, cached token or not. Default: no client data, nothing bound.
    fn admit_network(
        &self,
        net: Option<&crate::netbind::NetBinding>,
    ) -> Result<(), crate::netbind::NetRefusal> {
        crate::netbind::admit(net, crate::netbind::ClientNet::default())
    }
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
        /// May be answered from / stored in the edge cache (immutable content, authorized).
        cacheable: bool,
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
    pub fn realm(&self, public: &PublicHost) -> String {
        match &self.realm {
            Some(r) => r.clone(),
            None => format!("{}://{}/token", public.scheme, public.host),
        }
    }

    /// Decides one request. Never panics; every refusal is a complete response.
    pub async fn decide(
        &self,
        authority: &impl Authority,
        req: &RequestMeta<'_>,
        store: &impl Store,
        now: u64,
    ) -> Decision {
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
        if form_body_on_write(req, &endpoint) {
            // docker-registry reads `from`/`mount` with r.FormValue, which also parses a
            // urlencoded body: a body could name a mount source we never authorized.
            return Decision::Refuse {
                response: Box::new(super::authorize::server_error_response(
                    415,
                    "form-encoded bodies are not accepted on registry write endpoints; send \
                     application/octet-stream or the manifest media type",
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
                        Err(TokenRejected(why)) => return refuse(Refusal::InvalidToken, why),
                    },
                };
                // ---- NETWORK BINDING HOOK (issue 16): a token copied off its network ----
                if let Err(why) = authority.admit_network(verified.net.as_ref()) {
                    return super::netbound::refuse(&why);
                }
                if check_access(&verified.access, &required).is_err() {
                    // ---- FILTERED CATALOG HOOK (issue 16) ----
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
                match authority
                    .grant_basic(value, service, requested, store, now)
                    .await
                {
                    Ok(grant) => {
                        if check_access(&grant.access, &required).is_err() {
                            // ---- FILTERED CATALOG HOOK (issue 16) ----
                            if endpoint == Endpoint::Catalog {
                                return super::catalog::filtered(&grant.account, req.query);
                            }
                            return refuse(Refusal::Denied, "denied");
                        }
                        Principal::Basic {
                            account: grant.account,
                        }
                    }
                    Err(BasicRejected::InvalidCredentials) => {
                        return refuse(Refusal::InvalidCredentials, "invalid_credentials")
                    }
                    Err(BasicRejected::Malformed) => {
                        return refuse(Refusal::MalformedAuthorization, "malformed_authorization")
                    }
                    Err(BasicRejected::Throttled { retry_after }) => {
                        return Decision::Refuse {
                            response: Box::new(super::authorize::too_many_requests_response(
                                retry_after,
                            )),
                            reason: "throttled",
                        }
                    }
                    Err(BasicRejected::Unavailable(_)) => return Decision::Refuse {
                        response: Box::new(super::authorize::server_error_response(
                            503,
                            "credential storage is unavailable; nothing was forwarded, try again",
                        )),
                        reason: "store_unavailable",
                    },
                }
            }
        };
        Decision::Forward {
            url: self.settings.origin_url(req.path, req.query),
            principal,
            cacheable: cacheable_endpoint(&endpoint, req.method),
            endpoint,
        }
    }
}

/// A write to a registry endpoint with a urlencoded form body.
fn form_body_on_write(req: &RequestMeta<'_>, endpoint: &Endpoint) -> bool {
    let distribution = !matches!(
        endpoint,
        Endpoint::ChartIndex { .. } | Endpoint::ChartFile { .. } | Endpoint::ChartApi { .. }
    );
    let write = matches!(req.method, "POST" | "PUT" | "PATCH");
    let form = req.content_type.is_some_and(|ct| {
        ct.split(';').next().is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
    });
    distribution && write && form
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
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
        ) -> Result<VerifiedToken, TokenRejected> {
            self.verifications.set(self.verifications.get() + 1);
            self.audience_seen.borrow_mut().push(audience.to_string());
            match self.tokens.get(token) {
                Some(v) if now < v.exp => Ok(v.clone()),
                Some(_) => Err(TokenRejected("expired")),
                None => Err(TokenRejected("bad_signature")),
            }
        }

        async fn grant_basic(
            &self,
            authorization: &str,
            _service: &str,
            requested: &[Access],
            _store: &impl Store,
            _now: u64,
        ) -> Result<BasicGrant, BasicRejected> {
            self.basic_calls.set(self.basic_calls.get() + 1);
            if self.fail_store {
                return Err(BasicRejected::Unavailable("kv down".into()));
            }
            let allowed = self
                .users
                .get(authorization)
                .ok_or(BasicRejected::InvalidCredentials)?;
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

    fn run(g: &Gate, f: &Fake, method: &str, path: &str, query: &str, auth: &[&str]) -> Decision {
        let p = public();
        let meta = RequestMeta {
            method,
            path,
            query,
            authorization: auth.to_vec(),
            content_type: None,
            public: &p,
        };
        let store = MemoryStore::new();
        block_on(g.decide(f, &meta, &store, 1000))
    }

    use crate::test_support::block_on;

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
                cacheable,
                ..
            } => (url, principal, *cacheable),
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
        let meta = RequestMeta {
            method: "GET",
            path: "/v2/",
            query: "",
            authorization: vec!["Bearer tok-puller"],
            content_type: None,
            public: &p,
        };
        let d = block_on(g.decide(&f, &meta, &MemoryStore::new(), 2000));
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
    fn form_bodies_on_registry_writes_are_refused() {
        let (g, f) = (gate("1"), Fake::new());
        let p = public();
        let meta = RequestMeta {
            method: "POST",
            path: "/v2/org/app/blobs/uploads/",
            query: "",
            authorization: vec!["Bearer tok-pusher"],
            content_type: Some("application/x-www-form-urlencoded; charset=utf-8"),
            public: &p,
        };
        let d = block_on(g.decide(&f, &meta, &MemoryStore::new(), 1000));
        assert_eq!(refused(&d).0, 415);
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
