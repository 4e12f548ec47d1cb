//! `keys show`, `keys jwks`, `keys bundle`: what an operator publishes from a key or certificate.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;
use x509_cert::der::EncodePem;

use super::material::{read_pem_items, Alg, PemItem};
use tollgate_core::token::{self as core_token, KidFormat};

fn read(path: &Path) -> Result<Vec<PemItem>> {
    let text =
        fs::read_to_string(path).with_context(|| format!("{}: cannot read it", path.display()))?;
    read_pem_items(&text, &path.display().to_string())
}

/// `wrangler secret put` with an optional `--env`.
fn secret_put(name: &str, env: Option<&str>) -> String {
    match env {
        Some(e) => format!("npx wrangler secret put {name} --env {e}"),
        None => format!("npx wrangler secret put {name}"),
    }
}

/// A human-readable description of every PEM block in `path`, its kid and JWK, and the steps that
/// install it into the worker and a registry.
pub(crate) fn show(path: &Path, env: Option<&str>) -> Result<String> {
    let items = read(path)?;
    let file = path.display();
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        let public = item.public_key();
        let alg = public.alg();
        let kind = match item {
            PemItem::PrivateKey(_) => "private key (PKCS#8)",
            PemItem::Certificate { .. } => "certificate",
            PemItem::PublicKey(_) => "public key",
        };
        if items.len() > 1 {
            writeln!(out, "[{}]", i + 1)?;
        }
        writeln!(out, "file:       {file}")?;
        writeln!(out, "kind:       {kind}")?;
        writeln!(
            out,
            "algorithm:  {} ({})",
            alg.jws_name(),
            if alg == Alg::Es256 { "P-256" } else { "RSA" }
        )?;
        writeln!(out, "kid:        {}", public.libtrust_kid())?;
        writeln!(
            out,
            "thumbprint: {}  (RFC 7638: the kid registry 3.x looks up; TOKEN_KID=thumbprint)",
            public.thumbprint()
        )?;
        if let PemItem::Certificate { cert, .. } = item {
            let tbs = cert.tbs_certificate();
            writeln!(out, "subject:    {}", tbs.subject())?;
            writeln!(out, "not before: {}", tbs.validity().not_before)?;
            writeln!(out, "not after:  {}", tbs.validity().not_after)?;
        }
        writeln!(out, "jwk:        {}", serde_json::to_string(&public.jwk())?)?;
        writeln!(out, "next steps:")?;
        match (item, alg) {
            (PemItem::PrivateKey(_), Alg::Es256) => {
                writeln!(
                    out,
                    "  {} < {file}      # the worker signs with it",
                    secret_put("SIGNING_KEY", env)
                )?;
                writeln!(out, "  keep the file offline (mode 0600); never commit it")?;
            }
            (PemItem::PrivateKey(_), Alg::Rs256) => {
                writeln!(
                    out,
                    "  {} < {file}  # RS256 services (RS256_SERVICES)",
                    secret_put("RSA_SIGNING_KEY", env)
                )?;
                writeln!(out, "  keep the file offline (mode 0600); never commit it")?;
            }
            (PemItem::Certificate { .. }, _) => {
                writeln!(out, "  {} < {file}     # if this is the active ES256 key's certificate (x5c, /certs.pem)", secret_put("SIGNING_CERT", env))?;
                writeln!(out, "  add it to each registry's auth.token.rootcertbundle (`tollgate keys bundle` joins several)")?;
                writeln!(out, "  during a rotation, publish it through PUBLISHED_KEYS instead (see `tollgate keys rotate`)")?;
            }
            (PemItem::PublicKey(_), _) => {
                writeln!(out, "  a bare public key cannot go into a registry's rootcertbundle; use the key's certificate")?;
            }
        }
    }
    Ok(out)
}

/// An RFC 7517 JWK Set of every key or certificate in `paths`, without duplicates, each key
/// listed once per kid format in `formats` (registry 3.x's `jwks` file finds a token's key by
/// its `kid` alone, so the set must hold the form the tokens carry).
pub(crate) fn jwks(paths: &[impl AsRef<Path>], formats: &[KidFormat]) -> Result<Value> {
    let mut keys: Vec<core_token::PublicKey> = Vec::new();
    for path in paths {
        for item in read(path.as_ref())? {
            let key = item.public_key().0;
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    Ok(core_token::jwks_with_kids(&keys, formats))
}

/// The certificates of `paths` joined into one PEM bundle (registry rootcertbundle, PUBLISHED_KEYS).
/// Private keys are refused so a key never ends up in a published bundle by mistake.
pub(crate) fn bundle(paths: &[impl AsRef<Path>]) -> Result<String> {
    let mut out = String::new();
    let mut kids = Vec::new();
    for path in paths {
        let path = path.as_ref();
        for item in read(path)? {
            match item {
                PemItem::Certificate { public, cert } => {
                    let kid = public.libtrust_kid();
                    if !kids.contains(&kid) {
                        out.push_str(
                            &cert
                                .to_pem(p256::pkcs8::LineEnding::LF)
                                .with_context(|| format!("{}: re-encoding the certificate", path.display()))?,
                        );
                        kids.push(kid);
                    }
                }
                PemItem::PrivateKey(_) => anyhow::bail!(
                    "{}: holds a PRIVATE KEY; a bundle is published, so give it certificates (NAME.crt.pem) only",
                    path.display()
                ),
                PemItem::PublicKey(_) => anyhow::bail!(
                    "{}: holds a bare PUBLIC KEY; registries need certificates (NAME.crt.pem) in rootcertbundle",
                    path.display()
                ),
            }
        }
    }
    Ok(out)
}
