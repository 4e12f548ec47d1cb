//! The token service as the proxy's [`Authority`]: the same verifier, credential check and ACL
//! the token endpoint uses, so the two can never disagree about who may do what.

use super::cache::VerifiedToken;
use super::gate::{Authority, BasicGrant};
use crate::federation::Fetch;
use crate::service::{App, AuthError, Rejected, RequestContext};
use crate::store::Store;
use crate::token::Access;

/// Borrows the isolate's [`App`] for one proxied request.
pub struct AppAuthority<'a> {
    app: &'a App,
}

impl<'a> AppAuthority<'a> {
    pub fn new(app: &'a App) -> Self {
        Self { app }
    }
}

impl Authority for AppAuthority<'_> {
    fn verify_token(
        &self,
        token: &str,
        audience: &str,
        now: u64,
    ) -> Result<VerifiedToken, Rejected> {
        let claims = self.app.verify_token(token, audience, now)?;
        Ok(VerifiedToken {
            subject: claims.sub,
            access: claims.access,
            exp: claims.exp,
        })
    }

    async fn grant_basic<S: Store, F: Fetch>(
        &self,
        authorization: &str,
        service: &str,
        requested: &[Access],
        ctx: &RequestContext<'_, S, F>,
    ) -> Result<BasicGrant, AuthError> {
        let (account, access) = self
            .app
            .grant_basic(authorization, service, requested, ctx)
            .await?;
        Ok(BasicGrant { account, access })
    }
}

#[cfg(test)]
mod tests {
    //! The real token service behind the gate: tokens issued by GET /token pass, Basic
    //! credentials go through the same bcrypt check and ACL.

    use super::*;
    use crate::config::Settings;
    use crate::protocol::HttpRequest;
    use crate::proxy::config::ProxySettings;
    use crate::proxy::gate::{Decision, Gate, RequestMeta};
    use crate::proxy::headers::PublicHost;
    use crate::service::RandomError;
    use crate::store::MemoryStore;
    use base64::Engine as _;
    use serde_json::json;
    use std::collections::HashMap;

    const ES256_KEY: &str = include_str!("../service/testdata/es256.pem");
    const RS256_KEY: &str = include_str!("../service/testdata/rs256.pem");
    const NOW: u64 = 1_764_316_800;

    use crate::test_support::block_on;

    fn vars() -> HashMap<&'static str, String> {
        HashMap::from([
            ("ISSUER", "tollgate-test".to_string()),
            ("SERVICES", "registry.local chartmuseum.local".to_string()),
            ("RS256_SERVICES", "chartmuseum.local".to_string()),
            ("SIGNING_KEY", ES256_KEY.to_string()),
            ("RSA_SIGNING_KEY", RS256_KEY.to_string()),
            ("ORIGIN", "http://127.0.0.1:5001".to_string()),
            ("CHART_DEPTH", "1".to_string()),
        ])
    }

    fn setup() -> (App, Gate, MemoryStore) {
        let v = vars();
        let settings = Settings::from_vars(|k| v.get(k).cloned()).unwrap();
        let proxy = ProxySettings::from_vars(|k| v.get(k).cloned(), &settings).unwrap();
        let app = App::new(settings, [7u8; 32]).unwrap();
        let store = MemoryStore::with([
            (
                "user:alice".to_string(),
                json!({"password": bcrypt::hash("alice-pw", 4).unwrap(), "groups": ["w"]})
                    .to_string(),
            ),
            (
                "user:bob".to_string(),
                json!({"password": bcrypt::hash("bob-pw", 4).unwrap(), "groups": ["r"]})
                    .to_string(),
            ),
            (
                "acl".to_string(),
                json!([
                    {"match": {"group": "w", "type": "repository", "name": "org/*"}, "actions": ["pull", "push"]},
                    {"match": {"group": "r", "type": "repository", "name": "org/*"}, "actions": ["pull"]},
                    {"match": {"group": "r", "type": "artifact-repository", "name": "org1"}, "actions": ["pull"]},
                ])
                .to_string(),
            ),
        ]);
        (app, Gate::new(proxy, None), store)
    }

    fn basic(user: &str, pw: &str) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"));
        format!("Basic {b64}")
    }

    fn issue(app: &App, store: &MemoryStore, user: &str, pw: &str, query: &str) -> String {
        let req =
            HttpRequest::new("GET", "/token", query).with_header("authorization", &basic(user, pw));
        let n = std::cell::Cell::new(0u8);
        let rng = |buf: &mut [u8]| -> Result<(), RandomError> {
            n.set(n.get().wrapping_add(1));
            buf.fill(n.get());
            Ok(())
        };
        let ctx = RequestContext::new(store, &crate::federation::NoFetch, NOW, &rng);
        let (resp, _) = block_on(app.handle(&req, &ctx));
        assert_eq!(
            resp.status,
            200,
            "{:?}",
            String::from_utf8_lossy(&resp.body)
        );
        resp.json_body().unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn decide(
        app: &App,
        gate: &Gate,
        store: &MemoryStore,
        method: &str,
        path: &str,
        auth: &str,
    ) -> Decision {
        let public = PublicHost {
            scheme: "https".into(),
            host: "reg.example".into(),
        };
        let meta = RequestMeta {
            method,
            path,
            query: "",
            authorization: vec![auth],
            content_type: None,
            header_count: 3,
            public: &public,
        };
        let ctx = RequestContext::without_randomness(store, &crate::federation::NoFetch, NOW + 5);
        block_on(gate.decide(&AppAuthority::new(app), &meta, &ctx))
    }

    fn status(d: &Decision) -> u16 {
        match d {
            Decision::Forward { .. } => 200,
            Decision::Refuse { response, .. } => response.status,
        }
    }

    #[test]
    fn issued_tokens_open_exactly_their_scope() {
        let (app, gate, store) = setup();
        let push = issue(
            &app,
            &store,
            "alice",
            "alice-pw",
            "service=registry.local&scope=repository:org/app:pull,push",
        );
        let pull = issue(
            &app,
            &store,
            "bob",
            "bob-pw",
            "service=registry.local&scope=repository:org/app:pull,push",
        );
        let bearer = |t: &str| format!("Bearer {t}");
        assert_eq!(
            status(&decide(
                &app,
                &gate,
                &store,
                "PUT",
                "/v2/org/app/manifests/v1",
                &bearer(&push)
            )),
            200
        );
        assert_eq!(
            status(&decide(
                &app,
                &gate,
                &store,
                "GET",
                "/v2/org/app/manifests/v1",
                &bearer(&pull)
            )),
            200
        );
        // bob asked for push but the ACL narrowed his token to pull.
        assert_eq!(
            status(&decide(
                &app,
                &gate,
                &store,
                "PUT",
                "/v2/org/app/manifests/v1",
                &bearer(&pull)
            )),
            401
        );
        assert_eq!(
            status(&decide(
                &app,
                &gate,
                &store,
                "GET",
                "/v2/org/other/tags/list",
                &bearer(&push)
            )),
            401
        );
        assert_eq!(
            status(&decide(&app, &gate, &store, "GET", "/v2/", &bearer(&pull))),
            200
        );
        // A token for another audience is refused as invalid_token.
        let charts = issue(
            &app,
            &store,
            "bob",
            "bob-pw",
            "service=chartmuseum.local&scope=artifact-repository:org1:pull",
        );
        match decide(&app, &gate, &store, "GET", "/v2/", &bearer(&charts)) {
            Decision::Refuse { response, reason } => {
                assert_eq!(reason, "wrong_audience");
                assert!(response
                    .header("www-authenticate")
                    .unwrap()
                    .contains("invalid_token"));
            }
            d => panic!("forwarded {d:?}"),
        }
        // Tampered signature.
        let mut bad = push.clone();
        bad.pop();
        bad.push(if push.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(
            status(&decide(&app, &gate, &store, "GET", "/v2/", &bearer(&bad))),
            401
        );
    }

    #[test]
    fn basic_credentials_use_the_token_endpoints_check() {
        let (app, gate, store) = setup();
        let d = decide(
            &app,
            &gate,
            &store,
            "GET",
            "/org1/index.yaml",
            &basic("bob", "bob-pw"),
        );
        match &d {
            Decision::Forward { url, principal, .. } => {
                assert_eq!(url, "http://127.0.0.1:5001/org1/index.yaml");
                assert_eq!(principal.name(), "bob");
            }
            d => panic!("refused {d:?}"),
        }
        assert_eq!(
            status(&decide(
                &app,
                &gate,
                &store,
                "GET",
                "/org2/index.yaml",
                &basic("bob", "bob-pw")
            )),
            403
        );
        assert_eq!(
            status(&decide(
                &app,
                &gate,
                &store,
                "GET",
                "/org1/index.yaml",
                &basic("bob", "nope")
            )),
            401
        );
        assert_eq!(
            status(&decide(
                &app,
                &gate,
                &store,
                "GET",
                "/org1/index.yaml",
                &basic("mallory", "x")
            )),
            401
        );
        assert_eq!(
            status(&decide(
                &app,
                &gate,
                &store,
                "POST",
                "/v2/org/app/blobs/uploads/",
                &basic("alice", "alice-pw")
            )),
            200
        );
        assert_eq!(
            status(&decide(
                &app,
                &gate,
                &store,
                "POST",
                "/v2/org/app/blobs/uploads/",
                &basic("bob", "bob-pw")
            )),
            403
        );
        store.fail.set(true);
        assert_eq!(
            status(&decide(
                &app,
                &gate,
                &store,
                "GET",
                "/v2/org/app/tags/list",
                &basic("carol", "pw")
            )),
            503
        );
    }
}
