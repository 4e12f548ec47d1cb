//! Settings from the worker's vars and secrets (wrangler.toml `[vars]`, `wrangler secret put`).
//!
//! The shell hands in a lookup function so this module never sees a `worker::Env`. Every error
//! names the setting and says what a valid value looks like, so an operator can fix it from the
//! message alone; secret values are never echoed (only their names).

use std::fmt;

/// Seconds: the shortest token lifetime we accept (clients refetch on expiry; shorter is churn).
pub(crate) const MIN_TOKEN_TTL: u64 = 60;
/// Seconds: the longest token lifetime we accept (a day; revocation only bites at expiry).
pub(crate) const MAX_TOKEN_TTL: u64 = 86_400;
/// Default access-token lifetime, as docker_auth and distribution's examples use.
pub(crate) const DEFAULT_TOKEN_TTL: u64 = 300;
/// Default refresh-token lifetime: 30 days.
pub(crate) const DEFAULT_REFRESH_TTL: u64 = 30 * 86_400;
/// Refresh tokens live between a minute (KV's smallest expirationTtl) and a year.
pub(crate) const MIN_REFRESH_TTL: u64 = 60;
pub(crate) const MAX_REFRESH_TTL: u64 = 365 * 86_400;
/// Default lifetime of isolate-cached KV records (users, API keys, the ACL).
pub(crate) const DEFAULT_CACHE_TTL: u64 = 30;
/// Longest isolate cache lifetime: a revoked user may keep working this long.
pub(crate) const MAX_CACHE_TTL: u64 = 3_600;
/// Services configured at most (bounds the per-request `service` lookup).
pub(crate) const MAX_SERVICES: usize = 32;
/// Bytes in one service, issuer or realm value.
pub(crate) const MAX_NAME_LEN: usize = 255;

/// What the worker does with a request (see ARCHITECTURE.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Only the token endpoints (the default).
    Issuer,
    /// Only the verify-and-forward proxy.
    Proxy,
    /// Token endpoints plus the proxy for every other path.
    Both,
}

impl Mode {
    /// Whether the token endpoints are served.
    pub fn issues_tokens(self) -> bool {
        matches!(self, Mode::Issuer | Mode::Both)
    }

    /// Whether non-token paths go to the proxy.
    pub fn proxies(self) -> bool {
        matches!(self, Mode::Proxy | Mode::Both)
    }
}

/// A setting that is missing or malformed. `Display` gives the full, actionable sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The var or secret name, e.g. `TOKEN_TTL`.
    pub setting: &'static str,
    /// What is wrong and what would be valid. Never contains a secret value.
    pub message: String,
}

impl ConfigError {
    pub fn new(setting: &'static str, message: impl Into<String>) -> Self {
        Self {
            setting,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "configuration error in {}: {}",
            self.setting, self.message
        )
    }
}

impl std::error::Error for ConfigError {}

/// Parsed settings. Secret PEMs are kept as text for the token module to parse once per isolate;
/// `Debug` redacts them.
#[derive(Clone, PartialEq, Eq)]
pub struct Settings {
    /// `ISSUER`: the `iss` claim; must equal the registry's `auth.token.issuer`.
    pub issuer: String,
    /// `SERVICES`: the accepted `service` values (`aud` claims), space-separated in the var.
    pub services: Vec<String>,
    /// `RS256_SERVICES`: services whose tokens are signed RS256 (ChartMuseum); a subset of `services`.
    pub rs256_services: Vec<String>,
    /// `TOKEN_TTL`: access-token lifetime in seconds.
    pub token_ttl: u64,
    /// `REFRESH_TTL`: refresh-token lifetime in seconds.
    pub refresh_ttl: u64,
    /// `MODE`: issuer, proxy or both.
    pub mode: Mode,
    /// `CACHE_TTL`: seconds a KV record may be reused from the isolate cache.
    pub cache_ttl: u64,
    /// `LOGIN_THROTTLE`, `LOGIN_THROTTLE_PERIOD`: brute-force throttling of password checks.
    pub throttle: crate::token_service::throttle::ThrottleSettings,
    /// `REALM`: public URL of the token endpoint, for challenges. None: derived from the request.
    pub realm: Option<String>,
    /// `SIGNING_KEY`: PKCS#8 PEM of the P-256 key (ES256).
    pub signing_key_pem: String,
    /// `SIGNING_CERT`: optional PEM certificate of that key, sent as `x5c` (see `token_headers`).
    pub signing_cert_pem: Option<String>,
    /// `TOKEN_KID`, `TOKEN_X5C`: each service's token header (kid format, x5c or not).
    pub token_headers: crate::token::HeaderSettings,
    /// `RSA_SIGNING_KEY`: PKCS#8 PEM RSA key, required iff `rs256_services` is not empty.
    pub rsa_signing_key_pem: Option<String>,
    /// `PUBLISHED_KEYS`: optional PEM bundle of extra certificates / public keys (rotation).
    pub published_keys_pem: Option<String>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |present: bool| if present { "<set>" } else { "<unset>" };
        f.debug_struct("Settings")
            .field("issuer", &self.issuer)
            .field("services", &self.services)
            .field("rs256_services", &self.rs256_services)
            .field("token_ttl", &self.token_ttl)
            .field("refresh_ttl", &self.refresh_ttl)
            .field("mode", &self.mode)
            .field("cache_ttl", &self.cache_ttl)
            .field("throttle", &self.throttle)
            .field("realm", &self.realm)
            .field("signing_key_pem", &redacted(true))
            .field(
                "signing_cert_pem",
                &redacted(self.signing_cert_pem.is_some()),
            )
            .field("token_headers", &self.token_headers)
            .field(
                "rsa_signing_key_pem",
                &redacted(self.rsa_signing_key_pem.is_some()),
            )
            .field(
                "published_keys_pem",
                &redacted(self.published_keys_pem.is_some()),
            )
            .finish()
    }
}

impl Settings {
    /// What to log (once per isolate) when `REALM` is unset and a request came to a host other
    /// than loopback (local development): challenges then name a realm built from the request's
    /// Host header, which whoever sends the request chooses.
    pub fn realm_warning(&self, request_host: &str) -> Option<String> {
        // The URL parser's host: IPv4 in dotted decimal, IPv6 in brackets, names lower-cased.
        // Plain string tests keep std's address parser out of the worker.
        let local = request_host == "localhost"
            || request_host == "[::1]"
            || request_host.starts_with("127.");
        if self.realm.is_some() || local {
            return None;
        }
        Some(format!(
            "REALM is not set: the realm in challenges follows each request's Host header (this one: '{}'); set REALM to the token endpoint's public URL in production (README \"Deploying\")",
            request_host.chars().filter(|c| !c.is_control()).take(128).collect::<String>()
        ))
    }

    /// Reads every setting through `get` (var or secret name -> value; `None` when unset).
    /// An empty or all-blank value counts as unset.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let read = |name: &str| get(name).filter(|v| !v.trim().is_empty());

        let issuer = required_name(
            &read,
            "ISSUER",
            "the `iss` claim, equal to the registry's auth.token.issuer",
        )?;
        let services = service_list(read("SERVICES"), "SERVICES")?;
        if services.is_empty() {
            return Err(ConfigError::new(
                "SERVICES",
                "is not set: give the accepted service names separated by spaces, e.g. 'registry.local'",
            ));
        }
        let rs256_services = service_list(read("RS256_SERVICES"), "RS256_SERVICES")?;
        if let Some(unknown) = rs256_services.iter().find(|s| !services.contains(s)) {
            return Err(ConfigError::new(
                "RS256_SERVICES",
                format!(
                    "names '{unknown}', which is not in SERVICES ({})",
                    services.join(" ")
                ),
            ));
        }
        let token_ttl = seconds(
            read("TOKEN_TTL"),
            "TOKEN_TTL",
            DEFAULT_TOKEN_TTL,
            MIN_TOKEN_TTL,
            MAX_TOKEN_TTL,
        )?;
        let refresh_ttl = seconds(
            read("REFRESH_TTL"),
            "REFRESH_TTL",
            DEFAULT_REFRESH_TTL,
            MIN_REFRESH_TTL,
            MAX_REFRESH_TTL,
        )?;
        let cache_ttl = seconds(
            read("CACHE_TTL"),
            "CACHE_TTL",
            DEFAULT_CACHE_TTL,
            0,
            MAX_CACHE_TTL,
        )?;
        let throttle = crate::token_service::throttle::ThrottleSettings::from_vars(read)?;
        let mode = match read("MODE").as_deref().map(str::trim) {
            None | Some("issuer") => Mode::Issuer,
            Some("proxy") => Mode::Proxy,
            Some("both") => Mode::Both,
            Some(other) => {
                return Err(ConfigError::new(
                    "MODE",
                    format!(
                        "must be 'issuer', 'proxy' or 'both', got '{}'",
                        printable(other)
                    ),
                ))
            }
        };
        let realm = match read("REALM") {
            None => None,
            Some(v) => Some(realm_url(v.trim())?),
        };

        let signing_key_pem = read("SIGNING_KEY").ok_or_else(|| {
            ConfigError::new(
                "SIGNING_KEY",
                "is not set: it must hold the PKCS#8 PEM ('-----BEGIN PRIVATE KEY-----') of a P-256 key \
                 (wrangler secret put SIGNING_KEY, or .dev.vars locally)",
            )
        })?;
        let signing_cert_pem = read("SIGNING_CERT");
        let rsa_signing_key_pem = read("RSA_SIGNING_KEY");
        if !rs256_services.is_empty() && rsa_signing_key_pem.is_none() {
            return Err(ConfigError::new(
                "RSA_SIGNING_KEY",
                format!(
                    "is not set but RS256_SERVICES names {}: set it to the PKCS#8 PEM of an RSA key, \
                     or empty RS256_SERVICES",
                    rs256_services.join(" ")
                ),
            ));
        }
        let published_keys_pem = read("PUBLISHED_KEYS");
        let token_headers = crate::token::HeaderSettings::from_vars(
            read,
            &services,
            &rs256_services,
            signing_cert_pem.is_some(),
        )?;

        Ok(Settings {
            issuer,
            services,
            rs256_services,
            token_ttl,
            refresh_ttl,
            mode,
            cache_ttl,
            throttle,
            realm,
            signing_key_pem,
            signing_cert_pem,
            token_headers,
            rsa_signing_key_pem,
            published_keys_pem,
        })
    }

    /// Whether `service` is one of `SERVICES`.
    pub(crate) fn knows_service(&self, service: &str) -> bool {
        self.services.iter().any(|s| s == service)
    }

    /// Whether tokens for `service` are signed RS256.
    pub(crate) fn is_rs256(&self, service: &str) -> bool {
        self.rs256_services.iter().any(|s| s == service)
    }
}

/// A value shown back in an error: bounded and with control characters replaced, so a broken var
/// cannot flood or forge log lines. Only ever used on non-secret settings.
fn printable(value: &str) -> String {
    let mut out: String = value
        .chars()
        .take(64)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if value.chars().count() > 64 {
        out.push('…');
    }
    out
}

/// A name made of visible ASCII (no spaces, quotes or backslashes, so it can sit in a challenge).
fn is_plain_name(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= MAX_NAME_LEN
        && v.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\' && b != b',')
}

fn required_name(
    read: &impl Fn(&str) -> Option<String>,
    setting: &'static str,
    what: &str,
) -> Result<String, ConfigError> {
    let v = read(setting)
        .ok_or_else(|| ConfigError::new(setting, format!("is not set: it must hold {what}")))?;
    let v = v.trim();
    if !is_plain_name(v) {
        return Err(ConfigError::new(
            setting,
            format!(
                "must be 1 to {MAX_NAME_LEN} visible ASCII characters without spaces, quotes, commas or \
                 backslashes, got '{}'",
                printable(v)
            ),
        ));
    }
    Ok(v.to_string())
}

fn service_list(value: Option<String>, setting: &'static str) -> Result<Vec<String>, ConfigError> {
    let mut out: Vec<String> = Vec::new();
    for s in value.as_deref().unwrap_or("").split_whitespace() {
        if !is_plain_name(s) {
            return Err(ConfigError::new(
                setting,
                format!(
                    "must be service names separated by spaces, each 1 to {MAX_NAME_LEN} visible ASCII \
                     characters without quotes, commas or backslashes; '{}' is not valid",
                    printable(s)
                ),
            ));
        }
        if !out.iter().any(|o| o == s) {
            out.push(s.to_string());
        }
        if out.len() > MAX_SERVICES {
            return Err(ConfigError::new(
                setting,
                format!("names more than {MAX_SERVICES} services"),
            ));
        }
    }
    Ok(out)
}

fn seconds(
    value: Option<String>,
    setting: &'static str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    let Some(v) = value else { return Ok(default) };
    match v.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ConfigError::new(
            setting,
            format!(
                "must be an integer number of seconds between {min} and {max}, got '{}'",
                printable(v.trim())
            ),
        )),
    }
}

fn realm_url(v: &str) -> Result<String, ConfigError> {
    let ok = (v.starts_with("https://") || v.starts_with("http://"))
        && v.len() <= 2048
        && v.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\');
    if ok {
        Ok(v.to_string())
    } else {
        Err(ConfigError::new(
            "REALM",
            format!(
                "must be the absolute http(s) URL of the token endpoint (e.g. https://auth.example.com/token) \
                 without spaces or quotes, got '{}'",
                printable(v)
            ),
        ))
    }
}

#[cfg(test)]
mod tests;
