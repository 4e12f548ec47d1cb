//! Helpers shared by the core's unit tests.

/// A minimal executor for the core's futures, which never wait on anything but the in-memory
/// store: poll until ready with a no-op waker.
pub(crate) fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }
    let waker = Waker::from(Arc::new(Noop));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

// ---- Fixtures shared by the token service's and the proxy's tests ----

/// The throwaway test keys (public by being committed; see token_service/testdata/README.md).
pub(crate) const ES256_KEY: &str = include_str!("token_service/testdata/es256.pem");
pub(crate) const ES256_CERT: &str = include_str!("token_service/testdata/es256.crt");
pub(crate) const ES256_NEXT_CERT: &str = include_str!("token_service/testdata/es256-next.crt");
pub(crate) const RS256_KEY: &str = include_str!("token_service/testdata/rs256.pem");

/// The fixed clock of the service and proxy tests (2025-11-28T08:00:00Z).
pub(crate) const NOW: u64 = 1_764_316_800;

/// An `Authorization: Basic` value for `user:pw`.
pub(crate) fn basic(user: &str, pw: &str) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"));
    format!("Basic {b64}")
}

/// A bcrypt hash at cost 4, which keeps the suites fast; the flow is the same at any cost.
pub(crate) fn bcrypt_hash(pw: &str) -> String {
    bcrypt::hash(pw, 4).unwrap()
}

/// Deterministic randomness: distinct bytes on every call.
pub(crate) fn counter_rng() -> impl Fn(&mut [u8]) -> Result<(), crate::token_service::RandomError> {
    let n = std::cell::Cell::new(0u8);
    move |buf: &mut [u8]| {
        n.set(n.get().wrapping_add(1));
        for (i, b) in buf.iter_mut().enumerate() {
            *b = n.get().wrapping_mul(31).wrapping_add(i as u8);
        }
        Ok(())
    }
}

/// An EC P-256 public key made by OpenSSL (`openssl ecparam -name prime256v1 -genkey | openssl
/// pkey -pubout`), for checks against figures computed by other tools (its libtrust kid, its
/// RFC 7638 thumbprint).
pub(crate) const OPENSSL_EC_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEAdPrH1vnklDkzlRLrdEGGulIb0JA
yRZocPZXeDNMyNB12tjlImhxEPoYMVJyJmjJVstTOIUlqQ5zGs2lnsbnjQ==
-----END PUBLIC KEY-----
";

/// The `kid` of every key in a JWKS document, in order.
pub(crate) fn jwks_kids(jwks: &serde_json::Value) -> Vec<&str> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect()
}
