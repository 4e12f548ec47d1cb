//! `tollgate token inspect`: decode a token, verify it against published keys, and say check by
//! check whether a registry configured with `--issuer`/`--service` would accept it, following
//! docker-registry 2.8's rules (ARCHITECTURE.md, interop notes): key from `x5c`, `jwk` or `kid`
//! (libtrust ID), `alg` matching the key, `iss`, `aud` a string equal to the service, integer
//! `exp`/`nbf` with 60 s of leeway, and a well-formed `access` claim.
//!
//! Signatures are checked with p256 / rsa directly over the signed bytes, so claims of the wrong
//! type (which a typed JWT library would reject before looking at the signature) still get a
//! verdict of their own.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use p256::ecdsa::signature::Verifier as _;
use rsa::signature::Verifier as _; // rsa 0.9 implements the previous `signature` generation
use serde_json::Value;
use x509_cert::der::{Decode as _, Encode as _};

use crate::keys::material::{read_pem_items, PublicKey};
use tollgate_core::federation::discovery::jwk_public_key;
use tollgate_core::limits::MAX_TOKEN_LEN;
use tollgate_core::token::{verify_jwt_with_keys, PublicKey as CorePublicKey, Verifier};

/// docker-registry's clock leeway for exp/nbf.
pub(crate) const LEEWAY: u64 = tollgate_core::limits::CLOCK_LEEWAY_SECS;
/// Bounds what a key-set download may bring.
const MAX_KEYSET_BYTES: u64 = 1 << 20;

/// A published verification key, known by its libtrust kid (registry 2.x) and its RFC 7638
/// thumbprint (registry 3.x's kid for rootcertbundle keys; TOKEN_KID=thumbprint).
pub(crate) struct TrustedKey {
    pub kid: String,
    pub thumbprint: String,
    pub key: PublicKey,
    /// The `kid` a JWKS entry claimed, when it differs from the computed one.
    pub claimed_kid: Option<String>,
}

/// Reads keys from a JWKS (JSON) or a PEM bundle of certificates / public keys; `source` is a
/// file path or an http(s) URL.
pub(crate) fn load_keys(source: &str) -> Result<Vec<TrustedKey>> {
    let text = if source.starts_with("http://") || source.starts_with("https://") {
        fetch(source)?
    } else {
        std::fs::read_to_string(source)
            .with_context(|| format!("--jwks {source}: cannot read it"))?
    };
    let keys = if text.trim_start().starts_with('{') {
        keys_from_jwks(&text, source)?
    } else {
        let mut out = Vec::new();
        for item in read_pem_items(&text, source)? {
            let key = item.public_key();
            out.push(TrustedKey {
                kid: key.libtrust_kid(),
                thumbprint: key.thumbprint(),
                key,
                claimed_kid: None,
            });
        }
        out
    };
    if keys.is_empty() {
        bail!("--jwks {source}: holds no keys");
    }
    Ok(keys)
}

fn fetch(url: &str) -> Result<String> {
    use std::io::Read as _;
    let response = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(10))
        .build()
        .get(url)
        .call()
        .map_err(|e| anyhow!("--jwks {url}: fetching it failed: {e}"))?;
    let mut body = String::new();
    response
        .into_reader()
        .take(MAX_KEYSET_BYTES)
        .read_to_string(&mut body)
        .with_context(|| format!("--jwks {url}: reading the response"))?;
    Ok(body)
}

fn keys_from_jwks(text: &str, source: &str) -> Result<Vec<TrustedKey>> {
    let set: Value =
        serde_json::from_str(text).map_err(|e| anyhow!("--jwks {source}: not JSON: {e}"))?;
    let entries = set
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| anyhow!("--jwks {source}: not a JWK Set (no \"keys\" array)"))?;
    let mut out = Vec::new();
    for (i, jwk) in entries.iter().enumerate().take(64) {
        // The same reading as an issuer's JWK Set in federation, with the reason a key is not one.
        let key = jwk_public_key(jwk)
            .map(PublicKey)
            .map_err(|why| anyhow!("--jwks {source}: keys[{i}]: {why}"))?;
        // `tollgate keys jwks` lists a key under both kid forms: keep it once.
        if out.iter().any(|k: &TrustedKey| k.key == key) {
            continue;
        }
        let kid = key.libtrust_kid();
        let thumbprint = key.thumbprint();
        let claimed = jwk
            .get("kid")
            .and_then(Value::as_str)
            .filter(|k| *k != kid && *k != thumbprint)
            .map(str::to_owned);
        out.push(TrustedKey {
            kid,
            thumbprint,
            key,
            claimed_kid: claimed,
        });
    }
    Ok(out)
}

/// What the registry would be configured with.
pub(crate) struct Expect<'a> {
    pub issuer: Option<&'a str>,
    pub service: Option<&'a str>,
    pub now: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Ok,
    Fail,
    Skip,
}

struct Report {
    lines: Vec<(Verdict, String, String)>,
}

impl Report {
    fn add(&mut self, v: Verdict, check: &str, text: impl Into<String>) {
        self.lines.push((v, check.to_owned(), text.into()));
    }
    fn ok(&mut self, check: &str, text: impl Into<String>) {
        self.add(Verdict::Ok, check, text);
    }
    fn fail(&mut self, check: &str, text: impl Into<String>) {
        self.add(Verdict::Fail, check, text);
    }
    /// Not checked (nothing to check against), which is not a failure.
    fn skip(&mut self, check: &str, text: impl Into<String>) {
        self.add(Verdict::Skip, check, text);
    }
    /// A time claim `t`: ok when `in_time`, else FAIL, saying `late` after the time.
    fn time(&mut self, check: &str, t: u64, now: u64, in_time: bool, late: &str) {
        if in_time {
            self.ok(check, when(t, now));
        } else {
            self.fail(check, format!("{} ({late})", when(t, now)));
        }
    }
    fn failed(&self) -> Vec<&str> {
        self.lines
            .iter()
            .filter(|l| l.0 == Verdict::Fail)
            .map(|l| l.1.as_str())
            .collect()
    }
}

fn when(t: u64, now: u64) -> String {
    let date = x509_cert::der::DateTime::from_unix_duration(Duration::from_secs(t))
        .map(|d| d.to_string())
        .unwrap_or_else(|_| "out of range".to_owned());
    let rel = if t >= now {
        format!("in {}s", t - now)
    } else {
        format!("{}s ago", now - t)
    };
    format!("{t} ({date}, {rel})")
}

pub(crate) fn decode_part(part: &str, what: &str) -> Result<Value> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| anyhow!("the token's {what} is not base64url (is this a JWT?)"))?;
    serde_json::from_slice(&bytes).map_err(|e| anyhow!("the token's {what} is not JSON: {e}"))
}

fn verify_signature(key: &PublicKey, alg: &str, signed: &[u8], sig: &[u8]) -> Result<(), String> {
    match (&key.0, alg) {
        (CorePublicKey::Es256(k), "ES256") => {
            let sig = p256::ecdsa::Signature::from_slice(sig)
                .map_err(|_| "an ES256 signature must be 64 bytes (r||s)".to_owned())?;
            k.verify(signed, &sig)
                .map_err(|_| "does not verify with this key".to_owned())
        }
        (CorePublicKey::Rs256(k), "RS256") => {
            let sig = rsa::pkcs1v15::Signature::try_from(sig)
                .map_err(|_| "malformed RS256 signature".to_owned())?;
            rsa::pkcs1v15::VerifyingKey::<rsa::sha2::Sha256>::new(k.clone())
                .verify(signed, &sig)
                .map_err(|_| "does not verify with this key".to_owned())
        }
        (_, a) => Err(format!(
            "alg {a} cannot be used with a {} key",
            key.alg().jws_name()
        )),
    }
}

/// Inspects `token`; returns the report text and whether a registry would accept it.
pub(crate) fn inspect(token: &str, keys: &[TrustedKey], expect: &Expect) -> Result<(String, bool)> {
    let token = token.trim();
    if token.len() > MAX_TOKEN_LEN {
        bail!(
            "the token is {} bytes; Tollgate tokens are at most {MAX_TOKEN_LEN}",
            token.len()
        );
    }
    let parts: Vec<&str> = token.split('.').collect();
    let [h, c, s] = parts.as_slice() else {
        bail!(
            "a JWT has three '.'-separated parts; this has {}",
            parts.len()
        );
    };
    let header = decode_part(h, "header")?;
    let claims = decode_part(c, "claims")?;
    let signature = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| anyhow!("the token's signature is not base64url"))?;
    let signed = format!("{h}.{c}");
    let mut out = String::new();
    writeln!(out, "header: {}", serde_json::to_string(&header)?)?;
    writeln!(out, "claims: {}", serde_json::to_string_pretty(&claims)?)?;
    let mut r = Report { lines: Vec::new() };
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");

    // Key selection, in docker-registry 2.8's order: x5c, jwk, kid.
    let chosen: Option<&TrustedKey> = if let Some(x5c) = header.get("x5c") {
        let leaf = x5c
            .as_array()
            .and_then(|a| a.first())
            .and_then(Value::as_str)
            .and_then(|b| STANDARD.decode(b).ok())
            .and_then(|der| x509_cert::Certificate::from_der(&der).ok());
        match leaf.and_then(|c| c.tbs_certificate().subject_public_key_info().to_der().ok()) {
            None => {
                r.fail("key", "x5c[0] is not a base64 DER certificate");
                None
            }
            Some(spki) => {
                let hit = keys.iter().find(|k| k.key.spki_der() == spki);
                match hit {
                    Some(k) => r.ok(
                        "key",
                        format!("x5c certificate is a published key ({})", k.kid),
                    ),
                    None => r.fail(
                        "key",
                        "x5c certificate's key is not among the published keys (rootcertbundle)",
                    ),
                }
                hit
            }
        }
    } else if header.get("jwk").is_some() {
        r.fail(
            "key",
            "the header carries a jwk; Tollgate never sends one (use x5c or kid)",
        );
        None
    } else if let Some(kid) = header.get("kid").and_then(Value::as_str) {
        let hit = keys.iter().find(|k| k.kid == kid || k.thumbprint == kid);
        match hit {
            Some(k) if k.kid == kid => {
                r.ok("key", format!("kid {kid} is a published key"))
            }
            Some(k) => r.ok(
                "key",
                format!(
                    "kid {kid} is the RFC 7638 thumbprint of a published key ({}): registry 3.x finds it, 2.x does not",
                    k.kid
                ),
            ),
            None => r.fail(
                "key",
                format!(
                    "kid {kid} is not the libtrust ID or RFC 7638 thumbprint of any published key (known: {})",
                    keys.iter()
                        .map(|k| k.kid.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
        }
        hit
    } else {
        r.fail(
            "key",
            "the header has neither x5c nor kid: a registry cannot pick a key",
        );
        None
    };
    match chosen {
        Some(k) if k.key.alg().jws_name() == alg => r.ok("alg", format!("{alg} matches the key")),
        Some(k) => r.fail(
            "alg",
            format!(
                "{alg:?} does not match the key's algorithm {}",
                k.key.alg().jws_name()
            ),
        ),
        None if matches!(alg, "ES256" | "RS256") => {
            r.skip("alg", format!("{alg} (no key to match it against)"))
        }
        None => r.fail("alg", format!("{alg:?}: Tollgate signs ES256 or RS256")),
    }
    match chosen {
        Some(k) => match verify_signature(&k.key, alg, signed.as_bytes(), &signature) {
            Ok(()) => r.ok("signature", "valid"),
            Err(e) => r.fail("signature", e),
        },
        None => r.fail("signature", "not checked: no published key selected"),
    }

    let iss = claims.get("iss");
    match (iss.and_then(Value::as_str), expect.issuer) {
        (Some(i), Some(want)) if i == want => r.ok("iss", format!("{i:?}")),
        (Some(i), Some(want)) => r.fail(
            "iss",
            format!("{i:?} is not the registry's issuer {want:?}"),
        ),
        (None, _) => r.fail("iss", "missing or not a string"),
        (Some(i), None) => r.skip("iss", format!("{i:?} (pass --issuer to check it)")),
    }
    match (claims.get("aud"), expect.service) {
        (Some(Value::String(a)), Some(want)) if a == want => r.ok("aud", format!("{a:?}")),
        (Some(Value::String(a)), Some(want)) => r.fail(
            "aud",
            format!("{a:?} is not the registry's service {want:?}"),
        ),
        (Some(Value::String(a)), None) => {
            r.skip("aud", format!("{a:?} (pass --service to check it)"))
        }
        (Some(Value::Array(_)), _) => r.fail(
            "aud",
            "is an array; docker-registry 2.8 needs a single string",
        ),
        _ => r.fail("aud", "missing or not a string"),
    }
    let now = expect.now;
    match claims.get("exp").and_then(Value::as_u64) {
        Some(exp) => r.time(
            "exp",
            exp,
            now,
            now <= exp.saturating_add(LEEWAY),
            &format!("expired, beyond {LEEWAY}s of leeway"),
        ),
        None => r.fail("exp", "missing or not an integer"),
    }
    match claims.get("nbf").map(Value::as_u64) {
        None => r.ok("nbf", "absent"),
        Some(Some(nbf)) => r.time(
            "nbf",
            nbf,
            now,
            nbf <= now.saturating_add(LEEWAY),
            "not valid yet; check the clocks",
        ),
        Some(None) => r.fail("nbf", "not an integer"),
    }
    match claims.get("access") {
        None => r.ok("access", "absent: the token grants nothing beyond /v2/"),
        Some(Value::Array(entries)) => {
            let mut shown = Vec::new();
            let mut bad = false;
            for e in entries {
                let t = e.get("type").and_then(Value::as_str);
                let n = e.get("name").and_then(Value::as_str);
                let a: Option<Vec<&str>> = e
                    .get("actions")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).collect());
                match (t, n, a) {
                    (Some(t), Some(n), Some(a)) => shown.push(format!("{t}:{n}:{}", a.join(","))),
                    _ => bad = true,
                }
            }
            if bad {
                r.fail(
                    "access",
                    "an entry lacks a string type, name or actions array",
                );
            } else if shown.is_empty() {
                r.ok("access", "[] (nothing granted)");
            } else {
                r.ok("access", shown.join(" "));
            }
        }
        Some(_) => r.fail("access", "is not an array"),
    }
    // The same check the worker's proxy mode runs (tollgate-core's Verifier), as a cross-check.
    let core_keys: Vec<CorePublicKey> = keys.iter().map(|k| k.key.0.clone()).collect();
    match (expect.issuer, expect.service) {
        (Some(iss), Some(svc)) => {
            let verifier = Verifier::new(core_keys, iss.to_owned(), vec![svc.to_owned()], LEEWAY);
            match verifier.verify(token, expect.now) {
                Ok(_) => r.ok("tollgate", "the core's Verifier (Tollgate's own check) accepts it"),
                Err(e) => r.fail("tollgate", format!("the core's Verifier refuses it: {} ({e})", e.code())),
            }
        }
        _ => match verify_jwt_with_keys(token, &core_keys) {
            Ok(_) => r.skip("tollgate", "the core finds the key and the signature valid (pass --issuer and --service for its full check)"),
            Err(e) => r.fail("tollgate", format!("the core refuses it: {} ({e})", e.code())),
        },
    }
    for k in keys.iter().filter(|k| k.claimed_kid.is_some()) {
        writeln!(
            out,
            "warning: a published JWK claims kid {:?} but its libtrust ID is {}",
            k.claimed_kid.as_deref().unwrap_or(""),
            k.kid
        )?;
    }
    writeln!(out, "checks:")?;
    for (v, check, text) in &r.lines {
        let tag = match v {
            Verdict::Ok => "ok  ",
            Verdict::Fail => "FAIL",
            Verdict::Skip => "skip",
        };
        writeln!(out, "  [{tag}] {check:<9} {text}")?;
    }
    let failed = r.failed();
    let registry = format!(
        "a registry with issuer {} and service {}",
        expect
            .issuer
            .map_or("(not given)".to_owned(), |i| format!("{i:?}")),
        expect
            .service
            .map_or("(not given)".to_owned(), |s| format!("{s:?}"))
    );
    if failed.is_empty() {
        writeln!(
            out,
            "verdict: ACCEPT: {registry} trusting these keys would accept this token"
        )?;
    } else {
        writeln!(
            out,
            "verdict: REFUSE: {registry} would refuse this token ({})",
            failed.join(", ")
        )?;
    }
    Ok((out, failed.is_empty()))
}
