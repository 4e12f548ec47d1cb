//! The token endpoint flow: routing, authentication, authorization, signing, audit.
//!
//! [`TokenService`] is built once per isolate from [`Settings`] (keys parsed once: a PEM parse costs about
//! a signature) and holds the isolate caches. [`TokenService::handle`] takes a plain [`HttpRequest`] and
//! a [`RequestContext`] (store, fetcher, clock, randomness, client address), and returns the
//! response plus the audit event, so the whole flow runs natively under `cargo test` with a
//! `MemoryStore`.
//!
//! Routes: GET /token (distribution), POST /token (OAuth2), GET|POST /oauth/token (ChartMuseum),
//! GET /.well-known/jwks.json, GET /certs.pem, GET /healthz. Anything else is 404 and a wrong
//! method 405 with `Allow`, in the endpoint's error format.

pub(crate) mod audit;
mod auth_error;
mod authenticate;
mod cache;
mod context;
mod credential;
mod flow;
mod key_set;
mod remembered;
mod revoke;
pub mod throttle;
mod visibility; // filtered catalog (issue 16)

use crate::config::{ConfigError, Settings};
use crate::federation::{Fetch, KeyCache};
use crate::limits::MAX_REQUEST_HEADERS;
use crate::out_of_line::out_of_line;
use crate::protocol::request::Grant;
use crate::protocol::{ErrorKind, Flavor, HttpRequest, HttpResponse, TokenError};
use crate::scope::Scope;
use crate::store::Store;
use crate::token::{Access, RegistryClaims};
pub use audit::{AuditEvent, Outcome};
pub use auth_error::AuthError;
pub(crate) use authenticate::{check_sign_in, count_device_code, user as user_record};
use cache::Caches;
pub use context::{CountrySource, RequestContext};
pub(crate) use credential::Presented;
use key_set::Keys;
pub(crate) use key_set::Rejected;
use remembered::Remembered;
use serde_json::json;
use std::cell::RefCell;
use std::fmt;
use throttle::{Limiter, Throttle};

/// The randomness source failed: nothing random can be minted, so nothing is issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RandomError;

impl fmt::Display for RandomError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the random number generator failed")
    }
}

/// Fills a buffer with cryptographically secure random bytes (the worker: getrandom/JS crypto).
/// `Fn`, not `FnMut`, so one shared [`RequestContext`] can draw from it anywhere in a request.
pub(crate) type Rng<'a> = &'a dyn Fn(&mut [u8]) -> Result<(), RandomError>;

/// Token paths answered by [`TokenService::handle`]; a shell routes everything else (proxy mode) elsewhere.
pub(crate) const TOKEN_PATHS: [&str; 6] = [
    "/token",
    "/oauth/token",
    "/oauth/revoke",
    "/.well-known/jwks.json",
    "/certs.pem",
    "/healthz",
];

/// Every request header the token service's endpoints ([`TOKEN_PATHS`]) read, with the two a
/// shell reads for them: `content-length`, to bound the body, and `cf-connecting-ip`, the
/// context's client address. A shell may hand [`TokenService::handle`] only these, each read by
/// name: then no number of other headers can push one of them out of what Tollgate reads (issue
/// 12, finding 4), and a token request copies five headers out of the runtime instead of every
/// one (bench/README.md, "Reading the request"). `tests.rs` runs every grant and fails if the
/// service reads a header not listed here.
pub const TOKEN_REQUEST_HEADERS: [&str; 5] = [
    "authorization",
    "content-type",
    "user-agent",
    "content-length",
    "cf-connecting-ip",
];

/// Whether `path` is one of the token service's own endpoints.
pub fn is_token_path(path: &str) -> bool {
    TOKEN_PATHS.contains(&path)
}

/// The token service of one isolate.
pub struct TokenService {
    settings: Settings,
    keys: Keys,
    caches: RefCell<Caches>,
    /// Brute-force throttle of password checks (see `throttle`).
    throttle: Throttle,
    /// Trusted issuers' keys (workload federation), apart from `caches` because verifying a
    /// token awaits fetches while it holds this cache's state.
    jwks: RefCell<KeyCache>,
}

impl fmt::Debug for TokenService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenService")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl TokenService {
    /// Parses the signing keys and published keys once. A bad key is a [`ConfigError`] naming the
    /// secret (never echoing it). `isolate_key`: 32 random bytes, fresh per isolate, keying the
    /// cache of verified passwords (so a dump of it reveals nothing).
    pub fn new(settings: Settings, isolate_key: [u8; 32]) -> Result<TokenService, ConfigError> {
        Self::build(settings, Some(isolate_key))
    }

    /// [`Self::new`] where randomness is unavailable: workerd refuses it while an isolate starts,
    /// which is where the worker builds its service so that no request pays for the key parsing.
    /// The first password check draws the isolate key from its request's randomness.
    pub fn at_startup(settings: Settings) -> Result<TokenService, ConfigError> {
        Self::build(settings, None)
    }

    fn build(
        settings: Settings,
        isolate_key: Option<[u8; 32]>,
    ) -> Result<TokenService, ConfigError> {
        let keys = Keys::load(&settings)?;
        let caches = RefCell::new(Caches::new(settings.cache_ttl, isolate_key));
        let throttle = Throttle::new(settings.throttle);
        Ok(TokenService {
            settings,
            keys,
            caches,
            throttle,
            jwks: RefCell::new(KeyCache::default()),
        })
    }

    /// Counts failed password checks with `limiter` (the worker: the LOGIN_LIMITER binding).
    /// Without one, nothing is throttled.
    pub fn with_limiter(mut self, limiter: Box<dyn Limiter>) -> Self {
        self.throttle.set_limiter(limiter);
        self
    }

    /// Drops a revoked personal credential (`personal:<digest>`) from this isolate's cache, so
    /// the isolate that revoked it refuses it at once (others within `CACHE_TTL`).
    pub(crate) fn forget_personal(&self, digest: &str) {
        let key = crate::signin::credentials::record_key(digest);
        let mut caches = self.caches.borrow_mut();
        caches.personal.remove(key.as_str());
        caches.remembered.clear();
    }

    /// Drops a revoked refresh token's record (`refresh:<digest>`, `key`) from this isolate's
    /// cache, as [`Self::forget_personal`] does.
    pub(crate) fn forget_refresh(&self, key: &str) {
        let mut caches = self.caches.borrow_mut();
        caches.refresh.remove(key);
        caches.remembered.clear();
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Verifies a token for `audience` against the published keys (the proxy's check): kid,
    /// signature, `iss` = ISSUER, `aud` = audience, `exp`/`nbf` with a 60 s leeway.
    pub(crate) fn verify_token(
        &self,
        token: &str,
        audience: &str,
        now: u64,
    ) -> Result<RegistryClaims, Rejected> {
        self.keys.verify(token, audience, now)
    }

    /// Authenticates a proxied request's `Basic ...` Authorization value exactly as GET /token
    /// does (the same classification, the same throttled password check, API keys, disabled
    /// users) and narrows `requested` through the ACL for `service`, as a token request with
    /// those scopes would. Returns the account and the granted access. A workload's identity
    /// token is refused here: workloads fetch a token from the token endpoint first. A
    /// network-bound API key used from elsewhere is `AuthError::Network` (issue 16).
    pub(crate) async fn grant_basic<S: Store, F: Fetch>(
        &self,
        authorization: &str,
        service: &str,
        requested: &[Access],
        ctx: &RequestContext<'_, S, F>,
    ) -> Result<(String, Vec<Access>), AuthError> {
        if !self.settings.knows_service(service) {
            return Err(AuthError::Malformed(format!(
                "service '{service}' is not configured"
            )));
        }
        let presented =
            credential::classify(self, ctx, &Grant::Header, Some(authorization)).await?;
        match presented {
            Presented::Password { .. }
            | Presented::ApiKey { bearer: false, .. }
            | Presented::Remembered(Remembered { bearer: false, .. }) => {}
            Presented::IdentityToken { .. } => {
                return Err(AuthError::Rejected(
                    "identity tokens are accepted only at the token endpoint: fetch a token there first"
                        .into(),
                ))
            }
            _ => {
                return Err(AuthError::Malformed(
                    "the proxy reads Basic credentials here".into(),
                ))
            }
        }
        let who = authenticate::authenticate(self, ctx, &presented, service, &mut None)
            .await?
            .ok_or_else(|| AuthError::Rejected("credentials are required".into()))?;
        let scopes: Vec<Scope> = requested
            .iter()
            .filter_map(|a| {
                let mut actions = a.actions.clone();
                actions.sort();
                actions.dedup();
                (!actions.is_empty()).then(|| Scope {
                    resource_type: a.resource_type.clone(),
                    resource_class: None,
                    name: a.name.clone(),
                    actions,
                })
            })
            .collect();
        let acl = authenticate::acl(self, ctx).await?;
        let access = acl.authorize(&authenticate::principal(Some(&who)), service, &scopes);
        Ok((who.account.clone(), access))
    }

    /// A signed token for `account` on `service` that grants nothing (what a login probe gets):
    /// the device grant's `access_token`, beside the credential it returns. Returns the token,
    /// its `jti` and lifetime.
    pub fn login_token<S: Store, F: Fetch>(
        &self,
        account: &str,
        service: &str,
        ctx: &RequestContext<'_, S, F>,
    ) -> Result<(String, String, u64), TokenError> {
        let jti = flow::new_jti(ctx)?;
        let ttl = self.settings.token_ttl;
        let claims = RegistryClaims {
            iss: self.settings.issuer.clone(),
            sub: account.to_string(),
            aud: service.to_string(),
            exp: ctx.now.saturating_add(ttl),
            nbf: ctx.now,
            iat: ctx.now,
            jti: jti.clone(),
            access: Vec::new(),
            net: None,
        };
        Ok((self.keys.sign(service, &claims)?, jti, ttl))
    }

    /// Name shown in the token endpoint's `Basic realm` challenge.
    fn realm(&self) -> &str {
        self.settings
            .realm
            .as_deref()
            .unwrap_or(&self.settings.issuer)
    }

    /// Answers one request. The audit event is present for token requests (issued or refused).
    /// `ctx.fetch` retrieves trusted issuers' discovery documents and keys (workload federation).
    pub async fn handle<S: Store, F: Fetch>(
        &self,
        req: &HttpRequest,
        ctx: &RequestContext<'_, S, F>,
    ) -> (HttpResponse, Option<AuditEvent>) {
        let method = req.method.as_str();
        if let Some(e) = too_many_headers(req.headers.len()) {
            return self.refuse(Flavor::Distribution, e);
        }
        match req.path.as_str() {
            "/token" | "/oauth/token" => {
                let flavor = match (req.path.as_str(), method) {
                    ("/token", "GET") => Flavor::Distribution,
                    ("/token", "POST") | ("/oauth/token", "GET" | "POST") => Flavor::OAuth2,
                    ("/token", _) => {
                        return self.refuse(
                            Flavor::Distribution,
                            TokenError::method_not_allowed(method, "/token", "GET, POST"),
                        );
                    }
                    _ => {
                        return self.refuse(
                            Flavor::OAuth2,
                            TokenError::method_not_allowed(method, "/oauth/token", "GET, POST"),
                        );
                    }
                };
                if req.body_too_large {
                    let e = crate::protocol::request::too_large("request body");
                    return self.refuse(flavor, e);
                }
                // Out of line: `/healthz` and the key endpoints need not compile the token flow.
                let (resp, event) = out_of_line(flow::token(self, req, flavor, ctx)).await;
                (resp, Some(event))
            }
            "/oauth/revoke" => {
                // Out of line, as the token flow: a token request need not compile it.
                let (resp, event) = out_of_line(revoke::revoke(self, req, ctx)).await;
                (resp, Some(event))
            }
            "/.well-known/jwks.json" | "/certs.pem" | "/healthz" => {
                if method != "GET" && method != "HEAD" {
                    return self.refuse(
                        Flavor::Distribution,
                        TokenError::method_not_allowed(method, &req.path, "GET, HEAD"),
                    );
                }
                let mut resp = match req.path.as_str() {
                    "/.well-known/jwks.json" => {
                        HttpResponse::text(200, "application/json", self.keys.jwks_json.clone())
                            .with_header("cache-control", "public, max-age=300")
                    }
                    "/certs.pem" if self.keys.certs_pem.is_empty() => {
                        let e = TokenError::new(
                            ErrorKind::NotFound,
                            "no certificate is configured: set SIGNING_CERT (and PUBLISHED_KEYS for \
                             rotation) to publish the bundle a registry's rootcertbundle needs",
                        );
                        return self.refuse(Flavor::Distribution, e);
                    }
                    "/certs.pem" => HttpResponse::text(
                        200,
                        "application/x-pem-file",
                        self.keys.certs_pem.clone(),
                    )
                    .with_header("cache-control", "public, max-age=300"),
                    _ => HttpResponse::text(200, "text/plain; charset=utf-8", "ok\n"),
                };
                if method == "HEAD" {
                    resp.body.clear();
                }
                (resp, None)
            }
            "/device/code" => {
                // Device login needs the browser sign-in; a device client reads OAuth2 errors.
                let e = TokenError::new(
                    ErrorKind::NotFound,
                    "device login is not enabled here: it needs the browser sign-in (SIGNIN_PROVIDERS)",
                );
                self.refuse(Flavor::OAuth2, e)
            }
            _ => {
                let shown: String = req
                    .path
                    .chars()
                    .take(128)
                    .filter(|c| !c.is_control())
                    .collect();
                let e = TokenError::new(
                    ErrorKind::NotFound,
                    format!(
                        "no endpoint at {shown}: token requests go to /token (or /oauth/token)"
                    ),
                );
                self.refuse(Flavor::Distribution, e)
            }
        }
    }

    fn refuse(&self, flavor: Flavor, e: TokenError) -> (HttpResponse, Option<AuditEvent>) {
        (e.to_response(flavor, self.realm()), None)
    }
}

/// 431 for a request with more than [`MAX_REQUEST_HEADERS`] header fields: refused whole, never
/// trimmed (issue 12, finding 4: padding pushed `CF-Connecting-IP` out of a trimmed set). A shell
/// that reads only [`TOKEN_REQUEST_HEADERS`], by name, never trims, so this never fires there.
pub(crate) fn too_many_headers(count: usize) -> Option<TokenError> {
    (count > MAX_REQUEST_HEADERS).then(|| {
        TokenError::new(
            ErrorKind::HeadersTooLarge,
            format!(
                "the request has {count} header fields; at most {MAX_REQUEST_HEADERS} are accepted"
            ),
        )
    })
}

/// The answer to every request while the configuration is broken: 500 in distribution format
/// naming the setting, so `curl` and `docker login` both show the operator what to fix.
pub fn config_error_response(e: &ConfigError) -> HttpResponse {
    HttpResponse::json(
        500,
        &json!({"errors": [{
            "code": "UNKNOWN",
            "message": format!("Tollgate is misconfigured: {e}"),
            "detail": {"setting": e.setting},
        }]}),
    )
}

#[cfg(test)]
mod tests;
