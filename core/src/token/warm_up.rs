//! Throwaway ES256 tokens, signed (and one verified) when an isolate starts, so that its first
//! request does not pay for what every isolate computes once: p256's basepoint table, built on
//! the first k·G, and the optimised code of the signature's hot functions. The worker runs it at
//! startup (src/startup.rs), whose CPU is not billed to a request; bench/README.md
//! ("bench/first-request.mjs", "Under workerd alone, and the flush") says what it measured.
//!
//! Why [`WARM_UP_SIGNATURES`] and not one: V8 compiles wasm lazily in its baseline tier
//! (Liftoff) and workerd flushes all Liftoff code of the process whenever it starts another
//! isolate, so code that startup ran once is usually compiled again by the first request. Code
//! V8 has recompiled with TurboFan survives that flush, and V8 does so for a function once it
//! has run enough: after ~15 signatures that is SHA-256's compression, the allocator's `malloc`,
//! the scalar inversion and p256's field arithmetic (bench/first-request.mjs `COMPILED=1`: an
//! API-key token's first request compiles ~15 KB less). Measured with the flush (workerd alone,
//! 7 isolates each): first API-key request 10.7 -> 9.9 ms, anonymous 9.1 -> 8.4, proxied 10.5 ->
//! 9.8, for ~5 ms more startup; warm requests 1.0 -> 0.7 ms, whose hot code is optimised from
//! the start. It relies on V8's tier-up heuristics, which the count was measured against.
//!
//! The key below was generated for this purpose only and is public: nothing ever trusts it, no
//! token it signs leaves [`warm_up`], and it is never a service's signing key.

use super::{Access, RegistryClaims, Signer, SigningKey, Verifier};

const THROWAWAY_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgSyaLDGQ5K2rCNMvA
/W5sytdtxZRSbRZQpDL/4RhiJzehRANCAAT2Ogf1Zt4d1IQHOBdTK6i8+R2GJUlI
pA6JVauhy74kg1XZfERYtOHZ/kqy93x3OcvyaByf2LuS12Za1FKxtSoH
-----END PRIVATE KEY-----";

/// How many throwaway tokens [`warm_up`] signs (see the module docs for why more than one).
pub const WARM_UP_SIGNATURES: usize = 15;

/// Signs [`WARM_UP_SIGNATURES`] tokens with the throwaway key at `now` and verifies the last;
/// true when all of it worked.
pub fn warm_up(now: u64) -> bool {
    let Ok(key) = SigningKey::from_pkcs8_pem(THROWAWAY_KEY) else {
        return false;
    };
    let Ok(signer) = Signer::new(key, None) else {
        return false;
    };
    let claims = RegistryClaims {
        iss: "warm-up".into(),
        sub: "warm-up".into(),
        aud: "warm-up".into(),
        exp: now.saturating_add(60),
        nbf: now,
        iat: now,
        jti: "warm-up".into(),
        access: vec![Access {
            resource_type: "repository".into(),
            name: "warm-up".into(),
            actions: vec!["pull".into()],
        }],
        net: None,
    };
    for _ in 1..WARM_UP_SIGNATURES {
        if signer.sign(&claims).is_err() {
            return false;
        }
    }
    let Ok(token) = signer.sign(&claims) else {
        return false;
    };
    let verifier = Verifier::new(
        vec![signer.public_key().clone()],
        claims.iss.clone(),
        vec![claims.aud.clone()],
        crate::limits::CLOCK_LEEWAY_SECS,
    );
    verifier.verify(&token, now).is_ok_and(|got| got == claims)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_throwaway_token_signs_and_verifies() {
        assert!(super::warm_up(crate::test_support::NOW));
    }
}
