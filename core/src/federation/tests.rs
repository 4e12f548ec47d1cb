//! End-to-end federation checks against a fake issuer: every check positive and negative, the
//! key cache's lifetime, refresh and rate limit, and failing closed when the issuer is down.

use super::testkit::*;
use super::*;
use crate::limits::{
    JWKS_FAILURE_TTL, JWKS_MAX_TTL, JWKS_MIN_TTL, JWKS_REFETCH_INTERVAL, JWKS_STALE_GRACE,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit as _, Mac};
use serde_json::json;

fn run<T>(f: impl std::future::Future<Output = T>) -> T {
    crate::test_support::block_on(f)
}

fn auth(
    fi: &FakeIssuer,
    cache: &RefCell<KeyCache>,
    user: &str,
    token: &str,
    now: u64,
) -> Result<Identity, FederationError> {
    run(authenticate(&issuers(), user, token, cache, &fi.fetch, now))
}

/// The fake issuer and one isolate's key cache, as most tests drive them (the issuer's own
/// methods through `Deref`).
struct Isolate {
    issuer: FakeIssuer,
    cache: RefCell<KeyCache>,
}

impl Isolate {
    fn new() -> Self {
        Isolate {
            issuer: FakeIssuer::new(),
            cache: RefCell::default(),
        }
    }

    /// How many times the issuer's JWK Set was fetched.
    fn jwks_fetches(&self) -> usize {
        self.fetch.count(JWKS_URI)
    }

    /// A login as `user` with `token` at `now`, through this isolate's key cache.
    fn auth(&self, user: &str, token: &str, now: u64) -> Result<Identity, FederationError> {
        auth(&self.issuer, &self.cache, user, token, now)
    }
}

impl std::ops::Deref for Isolate {
    type Target = FakeIssuer;
    fn deref(&self) -> &FakeIssuer {
        &self.issuer
    }
}

fn err(fi: &FakeIssuer, token: &str) -> FederationError {
    auth(fi, &RefCell::default(), "github-actions", token, NOW).unwrap_err()
}

#[test]
fn rs256_and_es256_tokens_are_accepted() {
    let fi = Isolate::new();
    for t in [fi.rs(json!({})), fi.es(json!({}))] {
        let id = fi.auth("github-actions", &t, NOW).unwrap();
        assert_eq!(id.subject, "github:org/app:refs/heads/main");
        assert_eq!(id.issuer, "github");
        assert_eq!(id.jti.as_deref(), Some("id-jti-1"));
        assert_eq!(id.claims["repository_owner"], "org");
    }
    // Discovery and JWKS fetched once, then served from the isolate cache.
    assert_eq!(fi.fetch.count(DISCOVERY), 1);
    assert_eq!(fi.jwks_fetches(), 1);
    // `oidc` picks the issuer from iss.
    let id = fi.auth("oidc", &fi.rs(json!({})), NOW).unwrap();
    assert_eq!(id.issuer, "github");
}

#[test]
fn each_check_fails_with_a_message_naming_it() {
    let fi = FakeIssuer::new();
    let cases: Vec<(String, &str, FailureKind)> = vec![
        (
            fi.rs(json!({"exp": NOW - 120, "iat": NOW - 400, "nbf": NOW - 400})),
            "expired",
            FailureKind::Unauthorized,
        ),
        (
            fi.rs(json!({"nbf": NOW + 120})),
            "not yet valid",
            FailureKind::Unauthorized,
        ),
        (
            fi.rs(json!({"iat": NOW + 120, "exp": NOW + 300})),
            "issued in the future",
            FailureKind::Unauthorized,
        ),
        (
            fi.rs(json!({"exp": NOW + 7200})),
            "too long-lived",
            FailureKind::Unauthorized,
        ),
        (
            fi.rs(json!({"aud": "https://other.example"})),
            "audience",
            FailureKind::Unauthorized,
        ),
        (
            fi.rs(json!({"iss": "http://127.0.0.1:6443"})),
            "issuer (iss)",
            FailureKind::Unauthorized,
        ),
        (
            fi.rs(json!({"ref": null})),
            "no 'ref' claim",
            FailureKind::Unauthorized,
        ),
        ("not-a-jwt".into(), "malformed", FailureKind::Unauthorized),
        ("a.b.c".into(), "malformed", FailureKind::Unauthorized),
        (
            fi.rs(json!({"iss": 42})),
            "string 'iss'",
            FailureKind::Unauthorized,
        ),
        // Two `iss` members: the issuer is chosen from the unverified claims, so which one
        // counts must not be left to a parser's whim; refused before any key is fetched.
        (
            format!(
                "{}.{}.c2ln",
                URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","kid":"r1"}"#),
                URL_SAFE_NO_PAD.encode(r#"{"iss":"https://token.actions.githubusercontent.com","iss":"https://evil.example"}"#)
            ),
            "string 'iss'",
            FailureKind::Unauthorized,
        ),
        (
            "x".repeat(MAX_IDENTITY_TOKEN_LEN + 1),
            "too large",
            FailureKind::Unauthorized,
        ),
    ];
    for (token, needle, kind) in cases {
        let e = err(&fi, &token);
        assert!(e.message.contains(needle), "{needle}: {}", e.message);
        assert_eq!(e.kind, kind);
        assert!(
            !e.message.contains(&token[..token.len().min(40)]) || token.len() < 12,
            "echoed the token"
        );
    }
}

/// The issuer is chosen from claims no signature has covered yet, so claims that name no single
/// issuer are refused there, before any discovery document or key is fetched for them.
#[test]
fn unverified_claims_naming_no_single_issuer_fetch_nothing() {
    let fi = FakeIssuer::new();
    let token = |payload: &str| {
        format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","kid":"r1"}"#),
            URL_SAFE_NO_PAD.encode(payload)
        )
    };
    let github = ISS;
    for payload in [
        // serde's derive reads a struct from an array by position: this was `{iss}`.
        format!(r#"["{github}"]"#),
        format!(r#"{{"iss":"{github}","iss":"https://evil.example"}}"#),
        r#"{"iss":42}"#.to_string(),
        format!(r#""{github}""#),
    ] {
        let e = err(&fi, &token(&payload));
        assert!(
            e.message.contains("string 'iss'"),
            "{payload}: {}",
            e.message
        );
        assert_eq!(e.kind, FailureKind::Unauthorized);
    }
    assert_eq!(fi.fetch.count(DISCOVERY), 0);
    assert_eq!(fi.fetch.count(JWKS_URI), 0);
}

#[test]
fn forged_signature_and_wrong_kid_are_refused() {
    let fi = FakeIssuer::new();
    let other = crate::token::keys::tests::es_key();
    // Signed by a key the issuer never published, under a published kid.
    let forged = FakeIssuer::sign(&other, "e1", &FakeIssuer::claims(json!({})));
    assert!(err(&fi, &forged)
        .message
        .contains("signature does not verify"));
    // Tampered claims on a genuine token.
    let good = fi.es(json!({}));
    let parts: Vec<&str> = good.split('.').collect();
    let evil =
        URL_SAFE_NO_PAD.encode(FakeIssuer::claims(json!({"repository": "org/admin"})).to_string());
    let tampered = format!("{}.{}.{}", parts[0], evil, parts[2]);
    assert!(err(&fi, &tampered).message.contains("signature"));
    // Unknown kid: refetched once, still unknown.
    let unknown = FakeIssuer::sign(&other, "zz", &FakeIssuer::claims(json!({})));
    let e = err(&fi, &unknown);
    assert!(e.message.contains("kid 'zz' not found"), "{}", e.message);
}

#[test]
fn alg_is_pinned_to_the_key_type() {
    let fi = FakeIssuer::new();
    let claims = FakeIssuer::claims(json!({}));
    // An EC signature under the RSA key's kid, and the reverse.
    let e1 = FakeIssuer::sign(&fi.ec, "r1", &claims);
    let e2 = FakeIssuer::sign(&fi.rsa, "e1", &claims);
    for t in [e1, e2] {
        let m = err(&fi, &t).message;
        assert!(m.contains("alg does not match"), "{m}");
    }
    // alg none, and HS256 keyed with the issuer's public key (the classic confusion attack).
    let none = raw_token(json!({"alg": "none", "kid": "r1"}), &claims, b"");
    assert!(err(&fi, &none)
        .message
        .contains("alg 'none' is not accepted"));
    let header = json!({"alg": "HS256", "kid": "r1", "typ": "JWT"});
    let unsigned = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&fi.rsa.public_key().spki_der()).unwrap();
    mac.update(unsigned.as_bytes());
    let hs = format!(
        "{unsigned}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    );
    assert!(err(&fi, &hs)
        .message
        .contains("alg 'HS256' is not accepted"));
}

#[test]
fn issuer_selection() {
    let fi = Isolate::new();
    // `oidc` with an iss nobody trusts.
    let t = fi.rs(json!({"iss": "https://evil.example"}));
    let e = fi.auth("oidc", &t, NOW).unwrap_err();
    assert!(e.message.contains("unknown issuer"), "{}", e.message);
    assert_eq!(
        fi.fetch.calls.borrow().len(),
        0,
        "nothing fetched for an unknown issuer"
    );
    // A token of another trusted issuer presented under github's username.
    let t = fi.rs(json!({"iss": "http://127.0.0.1:6443"}));
    let e = fi.auth("github-actions", &t, NOW).unwrap_err();
    assert!(
        e.message.contains("not the selected issuer"),
        "{}",
        e.message
    );
    assert_eq!(e.issuer.as_deref(), Some("github"));
}

#[test]
fn unknown_kid_refetches_at_most_once_per_interval() {
    let fi = Isolate::new();
    fi.auth("github-actions", &fi.rs(json!({})), NOW).unwrap();
    // The issuer rotates to a new key right after our first fetch: picked up at once.
    let new = crate::token::keys::tests::es_key();
    fi.publish(&[("r1", &fi.rsa), ("e2", &new)], Some(600));
    let t = FakeIssuer::sign(&new, "e2", &FakeIssuer::claims(json!({})));
    fi.auth("github-actions", &t, NOW + 1).unwrap();
    assert_eq!(fi.jwks_fetches(), 2);
    assert!(
        fi.fetch.calls.borrow().last().unwrap().1,
        "refetch bypasses shared caches"
    );
    assert_eq!(fi.fetch.count(DISCOVERY), 1, "the known jwks_uri is reused");
    // Garbage kids cannot make us hammer the issuer.
    let other = crate::token::keys::tests::es_key();
    let junk = FakeIssuer::sign(&other, "junk", &FakeIssuer::claims(json!({})));
    for s in 0..JWKS_REFETCH_INTERVAL - 1 {
        let e = fi.auth("github-actions", &junk, NOW + 2 + s).unwrap_err();
        assert!(e.message.contains("kid 'junk' not found"));
    }
    assert_eq!(fi.jwks_fetches(), 2, "rate limited");
    fi.auth("github-actions", &junk, NOW + 1 + JWKS_REFETCH_INTERVAL)
        .unwrap_err();
    assert_eq!(fi.jwks_fetches(), 3, "one refetch once the interval passed");
}

#[test]
fn issuer_down_serves_the_last_good_keys_for_a_bounded_grace_then_fails_closed() {
    let fi = Isolate::new();
    fi.auth("github-actions", &fi.rs(json!({})), NOW).unwrap();
    fi.fetch.set(
        DISCOVERY,
        Err(FetchError::Failed("connection refused".into())),
    );
    fi.fetch.set(
        JWKS_URI,
        Err(FetchError::Failed("connection refused".into())),
    );
    let at = |t: u64| fi.rs(json!({"iat": t, "nbf": t, "exp": t + 300}));
    // Still valid inside the cached keys' lifetime (600 s from the origin's max-age).
    let later = NOW + 599;
    fi.auth("github-actions", &at(later), later).unwrap();
    // An unknown kid while down: 503, and the cached keys keep working.
    let other = crate::token::keys::tests::es_key();
    let unknown = FakeIssuer::sign(&other, "new", &FakeIssuer::claims(json!({})));
    let e = fi.auth("github-actions", &unknown, NOW + 10).unwrap_err();
    assert_eq!(e.kind, FailureKind::Unavailable);
    fi.auth("github-actions", &fi.rs(json!({})), NOW + 11)
        .unwrap();
    // Past the lifetime: the issuer is asked (and fails), the last good keys are served, and the
    // failure is remembered: one attempt per JWKS_FAILURE_TTL, however many logins.
    let expired = NOW + 600;
    let before = fi.fetch.calls.borrow().len();
    for s in 0..JWKS_FAILURE_TTL {
        fi.auth("github-actions", &at(expired + s), expired + s)
            .unwrap();
    }
    assert_eq!(fi.fetch.calls.borrow().len(), before + 1);
    // Past the grace: fail closed, naming the issuer.
    let after = expired + JWKS_STALE_GRACE;
    let e = fi.auth("github-actions", &at(after), after).unwrap_err();
    assert_eq!(e.kind, FailureKind::Unavailable);
    assert!(
        e.message.contains("issuer 'github'") && e.message.contains(ISS),
        "{}",
        e.message
    );
    // The issuer is back: fresh keys at the next attempt.
    let fresh = FakeIssuer::new();
    for url in [DISCOVERY, JWKS_URI] {
        let doc = fresh.fetch.docs.borrow().get(url).cloned().unwrap();
        fi.fetch.set(url, doc);
    }
    fi.publish(&[("r1", &fi.rsa)], Some(600));
    let back = after + JWKS_FAILURE_TTL;
    fi.auth("github-actions", &at(back), back).unwrap();
}

#[test]
fn bad_documents_fail_closed() {
    for (url, answer) in [
        (
            DISCOVERY,
            Ok(Fetched {
                status: 500,
                body: vec![],
                truncated: false,
                max_age: None,
            }),
        ),
        (
            DISCOVERY,
            Ok(Fetched::ok(
                json!({"issuer": "https://evil.example", "jwks_uri": JWKS_URI}).to_string(),
                None,
            )),
        ),
        (
            JWKS_URI,
            Ok(Fetched {
                status: 200,
                body: b"{}".to_vec(),
                truncated: true,
                max_age: None,
            }),
        ),
        (JWKS_URI, Ok(Fetched::ok(r#"{"keys":[]}"#, None))),
    ] {
        let fi = Isolate::new();
        fi.fetch.set(url, answer);
        let e = fi
            .auth("github-actions", &fi.rs(json!({})), NOW)
            .unwrap_err();
        assert_eq!(e.kind, FailureKind::Unavailable, "{}", e.message);
    }
}

#[test]
fn key_lifetime_is_clamped() {
    assert_eq!(keycache::ttl(Some(1)), JWKS_MIN_TTL);
    assert_eq!(keycache::ttl(Some(86400 * 365)), JWKS_MAX_TTL);
    assert_eq!(keycache::ttl(None), crate::limits::JWKS_DEFAULT_TTL);
    // A year-long max-age still expires after JWKS_MAX_TTL.
    let fi = Isolate::new();
    fi.publish(&[("r1", &fi.rsa)], Some(86400 * 365));
    fi.auth("github-actions", &fi.rs(json!({})), NOW).unwrap();
    let t = NOW + JWKS_MAX_TTL;
    fi.auth(
        "github-actions",
        &fi.rs(json!({"iat": t, "nbf": t, "exp": t + 60})),
        t,
    )
    .unwrap();
    assert_eq!(fi.jwks_fetches(), 2, "refetched after the clamped lifetime");
}

#[test]
fn configured_jwks_uri_skips_discovery() {
    let fi = FakeIssuer::new();
    let k8s_jwks = "http://127.0.0.1:6443/openid/v1/jwks";
    let mut j = crate::token::jwk(&fi.ec.public_key());
    j["kid"] = json!("k1");
    fi.fetch.set(
        k8s_jwks,
        Ok(Fetched::ok(json!({"keys": [j]}).to_string(), None)),
    );
    let claims = json!({
        "iss": "http://127.0.0.1:6443", "aud": ["tollgate"], "sub": "system:serviceaccount:ci:builder",
        "iat": NOW, "exp": NOW + 3607, "nbf": NOW,
        "kubernetes.io": {"namespace": "ci", "serviceaccount": {"name": "builder", "uid": "u"}}
    });
    let t = FakeIssuer::sign(&fi.ec, "k1", &claims);
    let id = auth(&fi, &RefCell::default(), "oidc", &t, NOW).unwrap();
    assert_eq!(id.subject, "k8s:system:serviceaccount:ci:builder");
    assert_eq!(id.claims["kubernetes.io.serviceaccount.name"], "builder");
    assert_eq!(fi.fetch.calls.borrow().len(), 1, "no discovery");
}

/// A fetcher whose answers wait until the test opens the gate (an issuer that is slow or hangs),
/// counting every request.
struct SlowFetch<'a> {
    inner: &'a MemoryFetch,
    open: std::cell::Cell<bool>,
    parked: RefCell<Vec<std::task::Waker>>,
}

impl<'a> SlowFetch<'a> {
    fn new(inner: &'a MemoryFetch) -> Self {
        SlowFetch {
            inner,
            open: std::cell::Cell::new(false),
            parked: RefCell::default(),
        }
    }

    fn open(&self) {
        self.open.set(true);
        for w in self.parked.borrow_mut().drain(..) {
            w.wake();
        }
    }
}

impl Fetch for SlowFetch<'_> {
    async fn get(&self, url: &str, fresh: bool) -> Result<Fetched, FetchError> {
        // Count at the start, as the issuer would see the connection.
        self.inner.calls.borrow_mut().push((url.to_string(), fresh));
        std::future::poll_fn(|cx| {
            if self.open.get() {
                std::task::Poll::Ready(())
            } else {
                self.parked.borrow_mut().push(cx.waker().clone());
                std::task::Poll::Pending
            }
        })
        .await;
        let answer = self.inner.docs.borrow().get(url).cloned();
        answer.unwrap_or(Err(FetchError::Failed("no answer".into())))
    }
}

type Authenticating<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Identity, FederationError>> + 'a>>;

/// One github-actions login through `fetch` and the isolate's `cache`, as a future to poll.
fn attempt<'a>(
    issuers: &'a Issuers,
    cache: &'a RefCell<KeyCache>,
    fetch: &'a impl Fetch,
    token: &'a str,
    now: u64,
) -> Authenticating<'a> {
    Box::pin(authenticate(
        issuers,
        "github-actions",
        token,
        cache,
        fetch,
        now,
    ))
}

/// Runs futures concurrently on one thread as an isolate does, polling a task only when its waker
/// was woken (a task nobody wakes hangs the test instead of passing by busy polling). `open` runs
/// once, after every task had a few turns (all of them are then waiting on the slow issuer).
fn run_concurrently<'a, T>(
    futs: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = T> + 'a>>>,
    open: impl FnOnce(),
) -> Vec<T> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    struct Flag(AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let flags: Vec<Arc<Flag>> = futs
        .iter()
        .map(|_| Arc::new(Flag(AtomicBool::new(true))))
        .collect();
    let mut futs: Vec<_> = futs.into_iter().map(Some).collect();
    let mut out: Vec<Option<T>> = futs.iter().map(|_| None).collect();
    let mut open = Some(open);
    let mut round = 0;
    while out.iter().any(Option::is_none) {
        round += 1;
        if round == 4 {
            (open.take().unwrap())();
        }
        let mut progressed = false;
        for (i, slot) in futs.iter_mut().enumerate() {
            let Some(f) = slot else { continue };
            if !flags[i].0.swap(false, Ordering::SeqCst) {
                continue;
            }
            progressed = true;
            let waker = Waker::from(Arc::clone(&flags[i]));
            if let Poll::Ready(v) = f.as_mut().poll(&mut Context::from_waker(&waker)) {
                out[i] = Some(v);
                *slot = None;
            }
        }
        assert!(
            progressed || round < 4,
            "tasks stuck: a waiting task was never woken"
        );
    }
    out.into_iter().map(Option::unwrap).collect()
}

/// The reviewer's finding: fifteen requests naming an issuer whose discovery hangs made fifteen
/// fetches. Now they share one, and the failure is remembered.
#[test]
fn concurrent_misses_with_a_hung_issuer_make_one_fetch() {
    let fi = FakeIssuer::new();
    fi.fetch.set(DISCOVERY, Err(FetchError::Timeout(5)));
    let slow = SlowFetch::new(&fi.fetch);
    let cache = RefCell::default();
    let issuers = issuers();
    // Self-signed junk with the issuer's iss: no valid signature needed to trigger a fetch.
    let junk = FakeIssuer::sign(
        &crate::token::keys::tests::es_key(),
        "x",
        &FakeIssuer::claims(json!({})),
    );
    let futs: Vec<Authenticating<'_>> = (0..15)
        .map(|_| attempt(&issuers, &cache, &slow, &junk, NOW))
        .collect();
    let results = run_concurrently(futs, || slow.open());
    assert_eq!(slow.inner.count(DISCOVERY), 1, "one fetch for 15 requests");
    for r in results {
        let e = r.unwrap_err();
        assert_eq!(e.kind, FailureKind::Unavailable);
        assert!(e.message.contains("no answer within 5 s"), "{}", e.message);
    }
    // Remembered: more requests inside the failure TTL answer at once, without asking.
    for s in 0..JWKS_FAILURE_TTL {
        let e = run(attempt(&issuers, &cache, &slow, &junk, NOW + s)).unwrap_err();
        assert_eq!(e.kind, FailureKind::Unavailable);
        assert!(e.message.contains("remembered"), "{}", e.message);
    }
    assert_eq!(slow.inner.count(DISCOVERY), 1);
    // Then one new attempt.
    let _ = run(attempt(
        &issuers,
        &cache,
        &slow,
        &junk,
        NOW + JWKS_FAILURE_TTL,
    ));
    assert_eq!(slow.inner.count(DISCOVERY), 2);
}

#[test]
fn concurrent_misses_share_one_successful_fetch() {
    let fi = FakeIssuer::new();
    let slow = SlowFetch::new(&fi.fetch);
    let cache = RefCell::default();
    let issuers = issuers();
    let tokens: Vec<String> = (0..8)
        .map(|i| {
            if i % 2 == 0 {
                fi.rs(json!({}))
            } else {
                fi.es(json!({}))
            }
        })
        .collect();
    let futs: Vec<Authenticating<'_>> = tokens
        .iter()
        .map(|t| attempt(&issuers, &cache, &slow, t, NOW))
        .collect();
    for r in run_concurrently(futs, || slow.open()) {
        assert_eq!(r.unwrap().issuer, "github");
    }
    assert_eq!(slow.inner.count(DISCOVERY), 1);
    assert_eq!(slow.inner.count(JWKS_URI), 1);
    // Concurrent unknown kids share one refetch too.
    slow.open.set(false);
    let other = crate::token::keys::tests::es_key();
    let unknown = FakeIssuer::sign(&other, "zz", &FakeIssuer::claims(json!({})));
    let futs: Vec<Authenticating<'_>> = (0..8)
        .map(|_| attempt(&issuers, &cache, &slow, &unknown, NOW + 1))
        .collect();
    for r in run_concurrently(futs, || slow.open()) {
        let e = r.unwrap_err();
        assert!(e.message.contains("kid 'zz' not found"), "{}", e.message);
    }
    assert_eq!(
        slow.inner.count(JWKS_URI),
        2,
        "one refetch for 8 unknown kids"
    );
}

#[test]
fn a_cancelled_fetch_does_not_strand_its_waiters() {
    let fi = FakeIssuer::new();
    let slow = SlowFetch::new(&fi.fetch);
    let cache = RefCell::default();
    let issuers = issuers();
    let t = fi.rs(json!({}));
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    // The first request starts the fetch and is dropped mid-flight (the client went away).
    let mut first = attempt(&issuers, &cache, &slow, &t, NOW);
    assert!(std::future::Future::poll(first.as_mut(), &mut cx).is_pending());
    drop(first);
    // The next one is not stuck behind it: it fetches itself.
    slow.open();
    assert_eq!(
        run(attempt(&issuers, &cache, &slow, &t, NOW))
            .unwrap()
            .issuer,
        "github"
    );
    assert_eq!(slow.inner.count(DISCOVERY), 2);
}
