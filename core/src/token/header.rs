//! What goes into a token's JOSE header besides `alg`/`typ`, per service: the key ID format and
//! whether `x5c` is sent. Registries find the signing key differently:
//!
//! | registry | finds the key by |
//! |---|---|
//! | docker-registry 2.x | `x5c` chained to `rootcertbundle`, else `kid` = the libtrust key ID of a bundle certificate |
//! | distribution 3.x | `x5c` chained to `rootcertbundle` (no fallback when present), else `kid` looked up in its `jwks` file, else among `rootcertbundle` keys by RFC 7638 thumbprint |
//!
//! So one header cannot serve every registry: a `jwks`-only 3.x refuses any token with `x5c`,
//! and a 3.x without `x5c` never matches a libtrust `kid` against its certificates. The settings
//! `TOKEN_KID` and `TOKEN_X5C` choose per service (README "Pointing a registry at Tollgate").

use super::keys::PublicKey;
use super::published::jwk_thumbprint;
use crate::config::ConfigError;

/// How a token's `kid` names the signing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KidFormat {
    /// docker/libtrust key ID (registry 2.x matches it against its rootcertbundle).
    Libtrust,
    /// RFC 7638 JWK SHA-256 thumbprint, base64url (registry 3.x's rootcertbundle lookup).
    Thumbprint,
}

impl KidFormat {
    /// Reads the value in `TOKEN_KID` and `tollgate keys jwks --kid`.
    pub fn parse(v: &str) -> Option<KidFormat> {
        match v {
            "libtrust" => Some(KidFormat::Libtrust),
            "thumbprint" => Some(KidFormat::Thumbprint),
            _ => None,
        }
    }

    /// `key`'s ID in this format.
    pub(crate) fn kid(self, key: &PublicKey) -> String {
        match self {
            KidFormat::Libtrust => key.kid(),
            KidFormat::Thumbprint => jwk_thumbprint(key),
        }
    }
}

/// The JOSE header choices of one service's tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenHeader {
    pub kid: KidFormat,
    /// Send the signing certificate as `x5c` (needs `SIGNING_CERT`; ES256 only).
    pub x5c: bool,
}

/// `TOKEN_KID` / `TOKEN_X5C` resolved for every service in `SERVICES`, in that order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderSettings {
    per_service: Vec<(String, TokenHeader)>,
}

/// One `TOKEN_KID` / `TOKEN_X5C` value: an optional bare default plus `SERVICE=VALUE` overrides.
struct PerService<'a> {
    default: Option<&'a str>,
    overrides: Vec<(&'a str, &'a str)>,
}

fn per_service<'a>(
    setting: &'static str,
    value: Option<&'a str>,
    services: &[String],
) -> Result<PerService<'a>, ConfigError> {
    let mut out = PerService {
        default: None,
        overrides: Vec::new(),
    };
    for item in value.unwrap_or("").split_whitespace() {
        match item.split_once('=') {
            None if out.default.is_some() => {
                return Err(ConfigError::new(
                    setting,
                    format!(
                        "has two values for every service ('{}' and '{}'): give one, then SERVICE=VALUE \
                         for the services that differ",
                        out.default.unwrap_or_default(),
                        shown(item)
                    ),
                ))
            }
            None => out.default = Some(item),
            Some((service, v)) => {
                if !services.iter().any(|s| s == service) {
                    return Err(ConfigError::new(
                        setting,
                        format!(
                            "names service '{}', which is not in SERVICES ({})",
                            shown(service),
                            services.join(" ")
                        ),
                    ));
                }
                if out.overrides.iter().any(|(s, _)| *s == service) {
                    return Err(ConfigError::new(
                        setting,
                        format!("names service '{service}' twice"),
                    ));
                }
                out.overrides.push((service, v));
            }
        }
    }
    Ok(out)
}

impl PerService<'_> {
    /// The raw value for `service` (its override, else the default), if any was given.
    fn get(&self, service: &str) -> Option<&str> {
        self.overrides
            .iter()
            .find(|(s, _)| *s == service)
            .map(|(_, v)| *v)
            .or(self.default)
    }
}

/// A value echoed in an error: bounded, printable (these settings hold no secrets).
fn shown(v: &str) -> String {
    v.chars()
        .take(64)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

impl HeaderSettings {
    /// Reads `TOKEN_KID` (`libtrust` | `thumbprint`, default `libtrust`) and `TOKEN_X5C` (`on` |
    /// `off`, default `on` exactly when `SIGNING_CERT` is set: the behaviour before these
    /// settings existed). Each holds one value for every service and/or `SERVICE=VALUE` items.
    /// Refused: unknown values and services, a service named twice, `x5c` without
    /// `SIGNING_CERT`, and `x5c` for an RS256 service (its key has no certificate).
    pub(crate) fn from_vars(
        read: impl Fn(&str) -> Option<String>,
        services: &[String],
        rs256_services: &[String],
        has_cert: bool,
    ) -> Result<HeaderSettings, ConfigError> {
        let kid_var = read("TOKEN_KID");
        let x5c_var = read("TOKEN_X5C");
        let kids = per_service("TOKEN_KID", kid_var.as_deref(), services)?;
        let x5cs = per_service("TOKEN_X5C", x5c_var.as_deref(), services)?;
        let mut per_service = Vec::with_capacity(services.len());
        for service in services {
            let rs256 = rs256_services.contains(service);
            let kid = match kids.get(service) {
                None => KidFormat::Libtrust,
                Some(v) => KidFormat::parse(v).ok_or_else(|| {
                    ConfigError::new(
                        "TOKEN_KID",
                        format!(
                            "must be 'libtrust' (registry 2.x) or 'thumbprint' (registry 3.x: RFC 7638), \
                             optionally per service as SERVICE=VALUE; got '{}'",
                            shown(v)
                        ),
                    )
                })?,
            };
            let x5c = match x5cs.get(service) {
                None => has_cert && !rs256,
                // RS256 keys have no certificate: a bare `on` means every ES256 service.
                Some("on") if rs256 && x5cs.default == Some("on") => false,
                Some("on") if rs256 => {
                    return Err(ConfigError::new(
                        "TOKEN_X5C",
                        format!(
                            "asks for x5c on '{service}', an RS256 service: RS256 tokens never carry x5c \
                             (there is no certificate for RSA_SIGNING_KEY); drop {service}=on"
                        ),
                    ))
                }
                Some("on") if !has_cert => {
                    return Err(ConfigError::new(
                        "TOKEN_X5C",
                        format!(
                            "asks for x5c on '{service}' but SIGNING_CERT is not set: set SIGNING_CERT to \
                             the certificate of SIGNING_KEY (tollgate keys generate writes it), or \
                             TOKEN_X5C=off for kid-only tokens"
                        ),
                    ))
                }
                Some("on") => true,
                Some("off") => false,
                Some(v) => {
                    return Err(ConfigError::new(
                        "TOKEN_X5C",
                        format!(
                            "must be 'on' or 'off', optionally per service as SERVICE=VALUE; got '{}'",
                            shown(v)
                        ),
                    ))
                }
            };
            per_service.push((service.clone(), TokenHeader { kid, x5c }));
        }
        Ok(HeaderSettings { per_service })
    }

    /// The header of `service`'s tokens; libtrust without x5c for a service not configured
    /// (the token flow refuses those before signing).
    pub fn header(&self, service: &str) -> TokenHeader {
        self.per_service
            .iter()
            .find(|(s, _)| s == service)
            .map(|(_, h)| *h)
            .unwrap_or(TokenHeader {
                kid: KidFormat::Libtrust,
                x5c: false,
            })
    }

    /// Every service with its header, in SERVICES order.
    pub(crate) fn services(&self) -> impl Iterator<Item = (&str, TokenHeader)> {
        self.per_service.iter().map(|(s, h)| (s.as_str(), *h))
    }

    /// The kid formats some service's tokens carry, libtrust first (what the JWKS must list).
    pub(crate) fn kid_formats(&self) -> Vec<KidFormat> {
        [KidFormat::Libtrust, KidFormat::Thumbprint]
            .into_iter()
            .filter(|f| self.per_service.iter().any(|(_, h)| h.kid == *f))
            .collect()
    }
}

#[cfg(test)]
mod tests;
