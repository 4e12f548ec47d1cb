//! Sign-in settings from the worker's vars and secrets. Sign-in is off unless
//! `SIGNIN_PROVIDERS` is set; once it is, every other setting is checked strictly, because each
//! one is a trust decision (who may sign in, where the browser is sent back to).
//!
//! - `SIGNIN_PROVIDERS` (var): a JSON array of [`Provider`]s.
//! - `SIGNIN_SECRET_<NAME>` (secret, per provider): its OAuth client secret (`<NAME>` is the
//!   provider's name upper-cased with `-` as `_`).
//! - `SIGNIN_SESSION_KEY` (secret): at least 32 bytes; keys the session and login cookies and
//!   the CSRF tokens (HMAC-SHA256, one derived key per use).
//! - `SIGNIN_URL` (var): the public origin of this worker (`https://auth.example.com`); the
//!   redirect URI registered with every provider is `<SIGNIN_URL>/login/callback`.
//! - `SIGNIN_REGISTRY` (var, optional): the registry host for the `docker login` commands on the
//!   page; default: the host of `SIGNIN_URL`.
//! - `SIGNIN_SERVICE` (var, optional): the service (token audience) whose ACL the page explains
//!   and credentials are checked against; default: the first of `SERVICES`.
//! - `SIGNIN_MAX_DAYS` (var, optional): the longest credential lifetime offered, 1-365, default 30.
//! - `SIGNIN_SESSION_TTL` (var, optional): session lifetime in seconds, 300-43200, default 3600.
//! - Device login (RFC 8628, `super::device`): `DEVICE_CODE_TTL` (seconds a code waits for
//!   approval, 60-1800, default 600), `DEVICE_INTERVAL` (seconds between polls, 1-60, default 5),
//!   `DEVICE_CREDENTIAL_TTL` (lifetime of the credential an approval yields, 300-604800, default
//!   28800 = 8 h).

use crate::config::ConfigError;
use crate::federation::issuers::check_url;
use crate::federation::{valid_claim_name, IssuerConfig};
use crate::limits::{MAX_ACCOUNT_LEN, MAX_IDENTITY_LIFETIME};
use serde::Deserialize;

/// Providers on one page.
pub(crate) const MAX_PROVIDERS: usize = 8;
/// Bytes of `SIGNIN_PROVIDERS`.
const MAX_PROVIDERS_BYTES: usize = 16 * 1024;
/// Entries of an allow-list.
const MAX_ALLOW: usize = 64;

/// One OpenID provider people may sign in with.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provider {
    /// `[a-z0-9-]`, 1-32: the URL parameter, the secret's name and what audit lines say.
    pub name: String,
    /// What the button says ("Sign in with Okta"); default: the name.
    #[serde(default)]
    pub label: Option<String>,
    /// The exact `iss`; discovery is `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    /// The claim that becomes the Tollgate account (`preferred_username`, `email`, `upn`).
    #[serde(default = "default_account_claim")]
    pub account_claim: String,
    /// Put before the claim's value so people cannot collide with local users (`sso-`).
    #[serde(default)]
    pub prefix: String,
    /// The claim holding the person's groups (a string array); none: no IdP groups.
    #[serde(default)]
    pub groups_claim: Option<String>,
    /// Only these email domains (of a verified `email` claim) may sign in.
    #[serde(default)]
    pub allow_domains: Vec<String>,
    /// Only members of one of these groups may sign in.
    #[serde(default)]
    pub allow_groups: Vec<String>,
    /// Extra scopes to ask for (`groups` for Okta/Dex); `openid` is always asked.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// `client_secret_basic` (default, the OIDC default) or `client_secret_post` (GitLab, Google
    /// accept both).
    #[serde(default)]
    pub token_auth: Option<String>,
    /// Filled from `SIGNIN_SECRET_<NAME>`, never from the JSON.
    #[serde(skip)]
    pub client_secret: String,
}

fn default_account_claim() -> String {
    "preferred_username".into()
}

impl Provider {
    pub(crate) fn label(&self) -> &str {
        self.label.as_deref().unwrap_or(&self.name)
    }

    /// The secret's binding name.
    pub(crate) fn secret_name(&self) -> String {
        format!(
            "SIGNIN_SECRET_{}",
            self.name.to_ascii_uppercase().replace('-', "_")
        )
    }

    /// Whether the client secret travels in the form body rather than a Basic header.
    pub(crate) fn secret_in_body(&self) -> bool {
        self.token_auth.as_deref() == Some("client_secret_post")
    }

    /// The provider as a federation issuer, so ID tokens go through federation's discovery,
    /// JWKS cache and checks (alg pinned to the key, iss, aud = client ID, exp/nbf/iat).
    pub(crate) fn issuer_config(&self) -> IssuerConfig {
        IssuerConfig {
            name: self.name.clone(),
            issuer: self.issuer.clone(),
            audiences: vec![self.client_id.clone()],
            username: None,
            subject: None,
            // ID tokens live about an hour (Entra up to ~90 minutes): allow what federation allows.
            max_lifetime: Some(MAX_IDENTITY_LIFETIME),
            jwks_uri: None,
            // Sign-in never obtains registry tokens with an ID token: personal credentials do.
            services: None,
        }
    }

    fn check(&self) -> Result<(), String> {
        let n = &self.name;
        if n.is_empty()
            || n.len() > 32
            || !n
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err("each provider's name must be 1-32 characters of a-z, 0-9 and '-'".into());
        }
        let ctx = |e: String| format!("provider '{n}': {e}");
        check_url("issuer", &self.issuer).map_err(ctx)?;
        if self.client_id.is_empty() || self.client_id.len() > 256 {
            return Err(ctx("client_id must be 1-256 bytes".into()));
        }
        if !valid_claim_name(&self.account_claim) {
            return Err(ctx("account_claim is not a valid claim name".into()));
        }
        if let Some(g) = &self.groups_claim {
            if !valid_claim_name(g) {
                return Err(ctx("groups_claim is not a valid claim name".into()));
            }
        }
        // Basic auth splits user:password at the first ':', so no account may contain one.
        if self.prefix.len() > 32 || self.prefix.contains(':') || !printable(&self.prefix) {
            return Err(ctx(
                "prefix must be at most 32 printable characters without ':'".into(),
            ));
        }
        if self.allow_domains.len() > MAX_ALLOW || self.allow_groups.len() > MAX_ALLOW {
            return Err(ctx(format!(
                "allow_domains and allow_groups hold at most {MAX_ALLOW} entries each"
            )));
        }
        if self.scopes.len() > 8
            || self
                .scopes
                .iter()
                .any(|s| s.is_empty() || s.len() > 64 || !s.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(ctx(
                "scopes: at most 8 scope names of printable ASCII without spaces".into(),
            ));
        }
        match self.token_auth.as_deref() {
            None | Some("client_secret_basic") | Some("client_secret_post") => Ok(()),
            Some(_) => Err(ctx(
                "token_auth must be client_secret_basic or client_secret_post".into(),
            )),
        }
    }
}

fn printable(s: &str) -> bool {
    !s.chars().any(|c| c.is_control() || c.is_whitespace())
}

/// Every sign-in setting, checked.
#[derive(Clone)]
pub struct SignInSettings {
    pub providers: Vec<Provider>,
    pub session_key: Vec<u8>,
    /// `SIGNIN_URL` without a trailing slash.
    pub base_url: String,
    /// Plain http on a loopback host: cookies drop `Secure` (local development only).
    pub insecure_local: bool,
    pub registry_host: String,
    pub service: String,
    pub max_days: u64,
    pub session_ttl: u64,
    pub device: DeviceSettings,
}

/// The device flow's timings (seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceSettings {
    /// How long a device code waits for approval (`expires_in`).
    pub code_ttl: u64,
    /// The polling interval a client starts with (`interval`).
    pub interval: u64,
    /// The lifetime of the credential an approval yields.
    pub credential_ttl: u64,
}

impl std::fmt::Debug for SignInSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the session key or client secrets.
        f.debug_struct("SignInSettings")
            .field(
                "providers",
                &self.providers.iter().map(|p| &p.name).collect::<Vec<_>>(),
            )
            .field("base_url", &self.base_url)
            .field("registry_host", &self.registry_host)
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

fn number(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    let Some(v) = get(name) else {
        return Ok(default);
    };
    v.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| {
            ConfigError::new(
                name,
                format!(
                    "must be a whole number from {} to {}",
                    range.start(),
                    range.end()
                ),
            )
        })
}

impl SignInSettings {
    /// `Ok(None)`: sign-in is off (no `SIGNIN_PROVIDERS`). `services`: the token service's
    /// `SERVICES`, for the default and the check of `SIGNIN_SERVICE`.
    pub fn from_vars(
        get: impl Fn(&str) -> Option<String>,
        services: &[String],
    ) -> Result<Option<SignInSettings>, ConfigError> {
        let Some(text) = get("SIGNIN_PROVIDERS").filter(|t| !t.trim().is_empty()) else {
            return Ok(None);
        };
        let bad = |m: String| ConfigError::new("SIGNIN_PROVIDERS", m);
        if text.len() > MAX_PROVIDERS_BYTES {
            return Err(bad(format!("longer than {MAX_PROVIDERS_BYTES} bytes")));
        }
        let mut providers: Vec<Provider> = crate::json_object::list_from_slice(text.as_bytes())
            .map_err(|e| bad(format!("not a JSON array of providers: {e}")))?;
        if providers.is_empty() || providers.len() > MAX_PROVIDERS {
            return Err(bad(format!("list 1 to {MAX_PROVIDERS} providers")));
        }
        for (i, p) in providers.iter().enumerate() {
            p.check().map_err(bad)?;
            if providers[..i].iter().any(|q| q.name == p.name) {
                return Err(bad(format!("provider name '{}' is used twice", p.name)));
            }
        }
        for p in &mut providers {
            let name = p.secret_name();
            p.client_secret = get(&name).filter(|s| !s.is_empty()).ok_or_else(|| {
                ConfigError::new(
                    "SIGNIN_PROVIDERS",
                    format!(
                        "provider '{}' needs its client secret in the secret {name} (wrangler secret put {name})",
                        p.name
                    ),
                )
            })?;
        }
        let session_key = get("SIGNIN_SESSION_KEY")
            .filter(|k| k.len() >= 32)
            .ok_or_else(|| {
                ConfigError::new(
                    "SIGNIN_SESSION_KEY",
                    "must be a secret of at least 32 bytes (e.g. `openssl rand -base64 48`)",
                )
            })?
            .into_bytes();
        let base = get("SIGNIN_URL").unwrap_or_default();
        let base_url = base.trim_end_matches('/').to_string();
        check_url("SIGNIN_URL", &base_url).map_err(|e| ConfigError::new("SIGNIN_URL", e))?;
        let url = url::Url::parse(&base_url)
            .map_err(|e| ConfigError::new("SIGNIN_URL", e.to_string()))?;
        if url.path() != "/" {
            return Err(ConfigError::new(
                "SIGNIN_URL",
                "must be an origin without a path (https://auth.example.com)",
            ));
        }
        let insecure_local = url.scheme() == "http";
        let host = url.host_str().unwrap_or_default();
        let default_host = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        let registry_host = get("SIGNIN_REGISTRY").unwrap_or(default_host);
        if registry_host.is_empty()
            || registry_host.len() > 253
            || !registry_host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]/".contains(&b))
        {
            return Err(ConfigError::new(
                "SIGNIN_REGISTRY",
                "must be a registry host (registry.example.com or 127.0.0.1:5000)",
            ));
        }
        let service = match get("SIGNIN_SERVICE") {
            Some(s) if services.contains(&s) => s,
            Some(_) => {
                return Err(ConfigError::new(
                    "SIGNIN_SERVICE",
                    "must be one of SERVICES",
                ))
            }
            None => services.first().cloned().unwrap_or_default(),
        };
        Ok(Some(SignInSettings {
            providers,
            session_key,
            base_url,
            insecure_local,
            registry_host,
            service,
            max_days: number(&get, "SIGNIN_MAX_DAYS", 30, 1..=365)?,
            session_ttl: number(&get, "SIGNIN_SESSION_TTL", 3600, 300..=43_200)?,
            device: DeviceSettings {
                code_ttl: number(&get, "DEVICE_CODE_TTL", 600, 60..=1800)?,
                interval: number(&get, "DEVICE_INTERVAL", 5, 1..=60)?,
                credential_ttl: number(&get, "DEVICE_CREDENTIAL_TTL", 28_800, 300..=604_800)?,
            },
        }))
    }

    pub(crate) fn provider(&self, name: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.name == name)
    }

    pub(crate) fn redirect_uri(&self) -> String {
        format!("{}/login/callback", self.base_url)
    }
}

/// Whether an account name is usable everywhere (a Basic username, an ACL `account`).
pub(crate) fn valid_account(a: &str) -> bool {
    !a.is_empty() && a.len() <= MAX_ACCOUNT_LEN && !a.contains(':') && printable(a)
}
