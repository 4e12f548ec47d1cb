//! Token verification against a fixed key set: arbitrary token strings, and structured mutations
//! of valid tokens (segments swapped, re-encoded headers with another alg/kid/x5c, edited payloads,
//! truncated or flipped signatures). Invariant: a token verifies only if its signed part
//! (`header.payload`) is exactly that of a token the fixture keys signed, so no mutation can
//! change the claims or the header and still pass.
#![no_main]

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use libfuzzer_sys::arbitrary::{self, Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use tollgate_core::token::{verify_jwt_with_keys, VerifyError};
use tollgate_fuzz::{genuinely_signed, token_fixture, NOW};

const ALGS: [&str; 8] = [
    "ES256", "RS256", "none", "HS256", "ES384", "PS256", "es256", "",
];

#[derive(Debug, Arbitrary)]
enum Mutation<'a> {
    /// The whole token is arbitrary text.
    Raw(&'a str),
    /// One segment (0 header, 1 payload, 2 signature) replaced by arbitrary text.
    Segment {
        index: u8,
        text: &'a str,
    },
    /// One segment replaced by the base64url of arbitrary bytes (e.g. JSON the fuzzer finds).
    Encoded {
        index: u8,
        bytes: &'a [u8],
    },
    /// A fresh header: chosen alg, the kid of one fixture token (or arbitrary), optional x5c.
    Header {
        alg: u8,
        kid: Option<&'a str>,
        kid_from: u8,
        x5c: Option<&'a [u8]>,
        x5c_from: bool,
    },
    /// Segments taken from different valid tokens.
    Splice {
        header: u8,
        payload: u8,
        signature: u8,
    },
    /// One byte of the token flipped.
    Flip {
        at: u16,
        xor: u8,
    },
    /// The token cut short, or extended with arbitrary text.
    Truncate(u16),
    Append(&'a str),
}

fn header_of(token: &str) -> serde_json::Value {
    let h = token.split('.').next().unwrap_or("");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).unwrap_or_default()).unwrap_or_default()
}

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    base: u8,
    mutation: Mutation<'a>,
    /// Seconds from the fixture clock the token is checked at (negative: before it).
    skew: i16,
}

// Input: first byte 0: the rest is a raw token string (seeds: valid tokens, so byte-level mutation
// starts from something that verifies); otherwise the rest drives a structured [`Input`].
fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode == 0 {
        if let Ok(token) = std::str::from_utf8(rest) {
            check(token, NOW);
        }
        return;
    }
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(rest)) else {
        return;
    };
    let f = token_fixture();
    let base = &f.tokens[usize::from(input.base) % f.tokens.len()];
    let parts: Vec<&str> = base.split('.').collect();
    let with = |i: u8, seg: &str| -> String {
        let mut p: Vec<String> = parts.iter().map(|s| s.to_string()).collect();
        p[usize::from(i) % 3] = seg.to_string();
        p.join(".")
    };
    let token = match &input.mutation {
        Mutation::Raw(s) => s.to_string(),
        Mutation::Segment { index, text } => with(*index, text),
        Mutation::Encoded { index, bytes } => with(*index, &URL_SAFE_NO_PAD.encode(bytes)),
        Mutation::Header {
            alg,
            kid,
            kid_from,
            x5c,
            x5c_from,
        } => {
            let mut h = serde_json::json!({
                "alg": ALGS[usize::from(*alg) % ALGS.len()],
                "typ": "JWT",
            });
            let donor = header_of(&f.tokens[usize::from(*kid_from) % f.tokens.len()]);
            h["kid"] = match kid {
                Some(k) => serde_json::Value::from(*k),
                None => donor["kid"].clone(),
            };
            if let Some(der) = x5c {
                h["x5c"] = serde_json::json!([STANDARD.encode(der)]);
            } else if *x5c_from {
                h["x5c"] = header_of(&f.tokens[1])["x5c"].clone();
            }
            with(0, &URL_SAFE_NO_PAD.encode(h.to_string()))
        }
        Mutation::Splice {
            header,
            payload,
            signature,
        } => {
            let seg = |t: u8, i: usize| {
                f.tokens[usize::from(t) % f.tokens.len()]
                    .split('.')
                    .nth(i)
                    .unwrap()
                    .to_string()
            };
            format!(
                "{}.{}.{}",
                seg(*header, 0),
                seg(*payload, 1),
                seg(*signature, 2)
            )
        }
        Mutation::Flip { at, xor } => {
            let mut b = base.as_bytes().to_vec();
            let i = usize::from(*at) % b.len();
            b[i] ^= xor;
            match String::from_utf8(b) {
                Ok(s) => s,
                Err(_) => return,
            }
        }
        Mutation::Truncate(n) => base[..usize::from(*n) % (base.len() + 1)].to_string(),
        Mutation::Append(s) => format!("{base}{s}"),
    };
    check(&token, NOW.saturating_add_signed(i64::from(input.skew)));
});

fn check(token: &str, now: u64) {
    let f = token_fixture();
    let genuine = genuinely_signed(token);
    match f.verifier.verify(token, now) {
        Ok(claims) => {
            assert!(genuine, "forged token verified: {token:?}");
            assert_eq!(
                claims, f.claims,
                "verified claims differ from the signed ones"
            );
            assert!(now <= claims.exp && now >= claims.nbf);
        }
        Err(e) => {
            let _ = (e.code(), e.to_string());
            // The unmodified token must pass when the clock is inside its window.
            if f.tokens.iter().any(|t| t == token) {
                assert!(
                    matches!(e, VerifyError::Expired | VerifyError::NotYetValid),
                    "valid fixture token refused: {e:?}"
                );
            }
        }
    }
    if verify_jwt_with_keys(token, f.verifier.keys()).is_ok() {
        assert!(genuine, "forged signature accepted: {token:?}");
    }
}
