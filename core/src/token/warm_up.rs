//! One throwaway ES256 token, signed and verified when an isolate starts, so that its first
//! request does not pay for what every isolate computes once (p256's basepoint table is built on
//! the first k·G). The worker runs it at startup (src/startup.rs), whose CPU is not
//! billed to a request; bench/README.md ("bench/first-request.mjs") says what it measured.
//!
//! The key below was generated for this purpose only and is public: nothing ever trusts it, no
//! token it signs leaves [`warm_up`], and it is never a service's signing key.

use super::{Access, RegistryClaims, Signer, SigningKey, Verifier};

const THROWAWAY_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgSyaLDGQ5K2rCNMvA
/W5sytdtxZRSbRZQpDL/4RhiJzehRANCAAT2Ogf1Zt4d1IQHOBdTK6i8+R2GJUlI
pA6JVauhy74kg1XZfERYtOHZ/kqy93x3OcvyaByf2LuS12Za1FKxtSoH
-----END PRIVATE KEY-----";

/// Signs one token with the throwaway key at `now` and verifies it; true when both worked.
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
