//! Issue 12, finding 2, by construction: every way a request can present a password (endpoint
//! x grant type x credential kind, plus the proxy's Basic path) reaches the one throttled
//! password check. On the old code `grant_type=client_credentials` with a Basic password was
//! never counted (fourteen wrong passwords, then 200 for the right one).

use super::*;
use crate::proxy::{Decision, Gate, ProxySettings, PublicHost, RequestMeta, TokenServiceAuthority};
use crate::token_service::throttle::fake::{FakeLimiter, Shared};
use std::rc::Rc;

const LIMIT: u32 = 3;
const IP: &str = "203.0.113.50";
const SVC: &str = "service=registry.local";

/// How a request presents `user` + `secret`.
#[derive(Clone, Copy, Debug)]
enum Way {
    GetTokenBasic,
    PostTokenPasswordGrant,
    PostTokenClientCredentialsBasic,
    PostOauthPasswordGrant,
    PostOauthClientCredentialsBasic,
    GetOauthClientCredentialsBasic,
    ProxyBasic,
}

const WAYS: [Way; 7] = [
    Way::GetTokenBasic,
    Way::PostTokenPasswordGrant,
    Way::PostTokenClientCredentialsBasic,
    Way::PostOauthPasswordGrant,
    Way::PostOauthClientCredentialsBasic,
    Way::GetOauthClientCredentialsBasic,
    Way::ProxyBasic,
];

fn throttled() -> (TokenService, Rc<FakeLimiter>) {
    let fake = FakeLimiter::new(LIMIT);
    (app().with_limiter(Box::new(Shared(fake.clone()))), fake)
}

fn gate() -> Gate {
    let mut v = vars();
    v.insert("ORIGIN", "http://127.0.0.1:5001".into());
    let settings = Settings::from_vars(|k| v.get(k).cloned()).unwrap();
    let proxy = ProxySettings::from_vars(|k| v.get(k).cloned(), &settings).unwrap();
    Gate::new(proxy, None)
}

fn form(user: &str, secret: &str) -> String {
    let mut f = form_urlencoded::Serializer::new(String::new());
    f.append_pair("grant_type", "password")
        .append_pair("username", user)
        .append_pair("password", secret)
        .append_pair("service", REG);
    f.finish()
}

/// The HTTP status one presentation gets.
fn attempt(
    app: &TokenService,
    gate: &Gate,
    s: &MemoryStore,
    way: Way,
    user: &str,
    secret: &str,
) -> u16 {
    let b = basic(user, secret);
    let cc = format!("grant_type=client_credentials&{SVC}");
    let req = match way {
        Way::GetTokenBasic => get(SVC).with_header("authorization", &b),
        Way::PostTokenPasswordGrant => post("/token", &form(user, secret)),
        Way::PostTokenClientCredentialsBasic => {
            post("/token", &cc).with_header("authorization", &b)
        }
        Way::PostOauthPasswordGrant => post("/oauth/token", &form(user, secret)),
        Way::PostOauthClientCredentialsBasic => {
            post("/oauth/token", &cc).with_header("authorization", &b)
        }
        Way::GetOauthClientCredentialsBasic => {
            HttpRequest::new("GET", "/oauth/token", &cc).with_header("authorization", &b)
        }
        Way::ProxyBasic => {
            let public = PublicHost {
                scheme: "https".into(),
                host: "reg.example".into(),
            };
            let meta = RequestMeta::new("GET", "/v2/org/a/tags/list", "", vec![&b], &public);
            let ctx = ctx_of(s, Some(IP));
            return match block_on(gate.decide(&TokenServiceAuthority::new(app), &meta, &ctx)) {
                Decision::Forward { .. } => 200,
                Decision::Refuse { response, .. } => response.status,
                Decision::FilteredCatalog { .. } => 200,
            };
        }
    };
    run(app, s, req.with_header("cf-connecting-ip", IP))
        .0
        .status
}

#[test]
fn every_password_check_is_throttled_whatever_the_endpoint_or_grant() {
    let gate = gate();
    for way in WAYS {
        let (app, fake) = throttled();
        let s = store();
        for i in 0..LIMIT {
            let st = attempt(&app, &gate, &s, way, "alice", &format!("guess{i}"));
            assert_eq!(st, 401, "{way:?}: failure {i} is a plain 401");
        }
        assert_eq!(
            attempt(&app, &gate, &s, way, "alice", "guess-last"),
            429,
            "{way:?}: over the limit"
        );
        // No oracle: the right password is refused too, before any bcrypt check.
        let (st, runs) = crate::credentials::bcrypt_runs::during(|| {
            attempt(&app, &gate, &s, way, "alice", "alice-pw")
        });
        assert_eq!((st, runs), (429, 0), "{way:?}");
        assert!(
            fake.calls.get() >= 2 * LIMIT,
            "{way:?}: failures were counted"
        );
        // The throttle is shared: every other way now refuses alice's password as well.
        for other in WAYS {
            assert_eq!(
                attempt(&app, &gate, &s, other, "alice", "alice-pw"),
                429,
                "{way:?} then {other:?}"
            );
        }
    }
}

#[test]
fn api_keys_are_never_counted_whatever_the_endpoint_or_grant() {
    let gate = gate();
    let wrong_key = format!("tgk_{}", "A".repeat(43));
    for way in WAYS {
        let (app, fake) = throttled();
        let s = store();
        for _ in 0..(LIMIT + 3) {
            let st = attempt(&app, &gate, &s, way, "ci-bot", &wrong_key);
            assert_eq!(st, 401, "{way:?}");
        }
        assert_eq!(fake.calls.get(), 0, "{way:?}: an API key is not a password");
        assert_eq!(
            attempt(&app, &gate, &s, way, "ci-bot", CI_KEY),
            200,
            "{way:?}"
        );
    }
}

#[test]
fn a_refresh_grant_never_checks_a_basic_password_beside_it() {
    let (app, fake) = throttled();
    let s = store();
    let (r, _) = run(
        &app,
        &s,
        post(
            "/token",
            &format!("{}&access_type=offline", form("alice", "alice-pw")),
        ),
    );
    let rt = body(&r)["refresh_token"].as_str().unwrap().to_string();
    let refresh = |pw: &str| {
        let req = post(
            "/token",
            &format!("grant_type=refresh_token&refresh_token={rt}&{SVC}"),
        )
        .with_header("authorization", &basic("alice", pw))
        .with_header("cf-connecting-ip", IP);
        let (r, _) = run(&app, &s, req);
        (r.status, body(&r)["scope"].clone())
    };
    // Right and wrong passwords beside the refresh token answer alike: no oracle, no count.
    assert_eq!(refresh("alice-pw"), refresh("wrong"));
    assert_eq!(refresh("wrong").0, 200);
    assert_eq!(fake.calls.get(), 0);
}

#[test]
fn the_credential_is_classified_from_what_is_presented() {
    use crate::credentials::Secret;
    use crate::protocol::request::Grant;
    use crate::token_service::credential::classify;
    let app = app();
    let s = store();
    let ctx = ctx_of(&s, None);
    let kind = |grant: Grant, auth: Option<&str>| {
        block_on(classify(&app, &ctx, &grant, auth)).map(|p| p.kind())
    };
    let pw = Grant::Password {
        username: "alice".into(),
        password: Secret::new("pw"),
    };
    let key_pw = Grant::Password {
        username: "ci-bot".into(),
        password: Secret::new(CI_KEY),
    };
    let refresh = Grant::RefreshToken {
        refresh_token: Secret::new("tgr_x"),
    };
    let b = basic("alice", "pw");
    let bk = basic("ci-bot", CI_KEY);
    let bearer = format!("Bearer {CI_KEY}");
    for grant in [Grant::Header, Grant::ClientCredentials] {
        assert_eq!(kind(grant.clone(), None), Ok("anonymous"));
        assert_eq!(kind(grant.clone(), Some(&b)), Ok("password"), "{grant:?}");
        assert_eq!(kind(grant.clone(), Some(&bk)), Ok("api_key"));
        assert_eq!(kind(grant.clone(), Some(&bearer)), Ok("api_key"));
        // A personal credential from the sign-in page: an API key of its own record kind, never
        // a password (so never bcrypt, never counted), in Basic and Bearer alike.
        let personal = format!("tgp_{}", "A".repeat(43));
        assert_eq!(
            kind(grant.clone(), Some(&basic("sso-alice", &personal))),
            Ok("personal")
        );
        assert_eq!(
            kind(grant.clone(), Some(&format!("Bearer {personal}"))),
            Ok("personal")
        );
        assert!(matches!(
            kind(grant.clone(), Some("Digest x")),
            Err(AuthError::Malformed(_))
        ));
    }
    assert_eq!(kind(pw.clone(), None), Ok("password"));
    assert_eq!(
        kind(pw, Some(&bearer)),
        Ok("password"),
        "the grant's credential counts"
    );
    assert_eq!(kind(key_pw, None), Ok("api_key"));
    assert_eq!(kind(refresh.clone(), None), Ok("refresh_token"));
    assert_eq!(kind(refresh, Some(&b)), Ok("refresh_token"));
    // An issuer's username makes the secret an identity token, whatever it looks like.
    put(
        &s,
        "issuers",
        json!([{"name": "gh", "issuer": "https://token.actions.example", "audiences": ["a"],
                "username": "github-actions"}]),
    );
    let app = self::app();
    // One context per request: a context keeps what it read ahead for its request.
    let kind = |grant: Grant, auth: Option<&str>| {
        let ctx = ctx_of(&s, None);
        block_on(classify(&app, &ctx, &grant, auth)).map(|p| p.kind())
    };
    assert_eq!(
        kind(Grant::Header, Some(&basic("github-actions", "not-a-jwt"))),
        Ok("oidc")
    );
    assert_eq!(
        kind(Grant::Header, Some(&basic("alice", "not-a-jwt"))),
        Ok("password")
    );
    // An unreadable issuers record fails a plausible identity token closed, never a password.
    s.fail.set(true);
    let app = self::app();
    let ctx = ctx_of(&s, None);
    let jwt = "eyJhbGciOiJFUzI1NiJ9.e30.c2ln";
    assert!(matches!(
        block_on(classify(&app, &ctx, &Grant::Header, Some(&basic("x", jwt)))),
        Err(AuthError::Unavailable(_))
    ));
    assert_eq!(
        block_on(classify(
            &app,
            &ctx,
            &Grant::Header,
            Some(&basic("alice", "pw"))
        ))
        .map(|p| p.kind()),
        Ok("password")
    );
}
