//! Browser sign-in with a company identity provider (OpenID Connect), and the account page that
//! hands people expiring personal registry credentials.
//!
//! Routes ([`SignIn::handle`]; the worker only converts requests and responses):
//! - `GET /login[?provider=NAME]`: starts the authorization code flow with
//!   PKCE (S256), `state` and `nonce`, remembered in a sealed ten-minute login cookie; with
//!   several providers and none chosen, a page of links.
//! - `GET /login/callback`: the provider's answer. Checks, in order: throttle, the login cookie
//!   (integrity and expiry), `state` (constant time), single use of the answer (a KV marker),
//!   the code exchange (the provider also refuses a reused code), the ID token
//!   ([`oidc::verify_id_token`]), the person and allow-list, and a disabled `user:` record. Then a
//!   sealed session cookie, and a redirect to `/account` or the device page the sign-in started
//!   from (never to a URL from input).
//! - `GET /account`: who you are, your groups, the ACL rules that apply to you (and an explain
//!   form in `tollgate explain`'s words), the create form and your credentials.
//! - `POST /account/credentials`, `POST /account/credentials/revoke`, `POST /logout`: each needs
//!   the session's CSRF token (and, when the browser sends one, an `Origin` equal to SIGNIN_URL).
//! - `POST /device/code`, `GET|POST /device` and the device grant of `POST /token`: device login
//!   (RFC 8628, [`device`]).
//!
//! Failed callbacks count against the login throttle (per client address), like wrong passwords:
//! the token service's own throttle, through `token_service::authenticate::check_sign_in`.
//! Log lines name the provider, account and reason, never a code, token, state or credential.

mod account;
pub mod credentials;
pub mod device;
mod login;
pub mod oidc;
pub mod page;
pub(crate) mod person;
pub(crate) mod seal;
pub mod settings;
#[cfg(test)]
mod tests;

use crate::credentials::{secret_digest, UserRecord};
use crate::federation::{Fetch, KeyCache};
use crate::policy::{Acl, Principal, Rule};
use crate::protocol::{HttpRequest, HttpResponse};
use crate::scope::parse_scopes;
use crate::store::Store;
use crate::token_service::{RequestContext, TokenService};
use crate::ttl_cache::TtlCache;
use oidc::{Endpoints, Pending, Post, SignInError, PENDING_TTL};
use person::Person;
use seal::{cookie, set_cookie, Purpose, Sealer};
use serde::{Deserialize, Serialize};
use settings::SignInSettings;
use std::cell::RefCell;

pub(crate) use settings::Provider;

/// Paths answered by [`SignIn::handle`].
pub const SIGNIN_PATHS: [&str; 9] = [
    "/login",
    "/login/callback",
    "/logout",
    "/account",
    "/account/style.css",
    "/account/credentials",
    "/account/credentials/revoke",
    "/device",
    "/device/code",
];

pub fn is_signin_path(path: &str) -> bool {
    SIGNIN_PATHS.contains(&path)
}

/// Bytes of a query string or form body the pages read.
const MAX_QUERY_LEN: usize = 4096;
/// Seconds a provider's endpoints are kept in the isolate.
const ENDPOINTS_TTL: u64 = 300;
/// Providers whose endpoints are kept: every configured one.
const ENDPOINTS_CAPACITY: usize = settings::MAX_PROVIDERS;
const LOGIN_COOKIE: &str = "tg_login";

/// The session cookie's content (sealed).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Session {
    /// Random id: the CSRF token is a MAC of it.
    sid: String,
    p: String,
    a: String,
    g: Vec<String>,
    /// Expiry (Unix seconds).
    e: u64,
}

/// What a request needs from the outside world: the token service's [`TokenService`] (its throttle) and
/// [`RequestContext`] (store, fetcher, clock, randomness, client address), and the code
/// exchange's POST.
pub struct Io<'r, 'a, S: Store, F: Fetch, P: Post> {
    pub app: &'r TokenService,
    pub ctx: &'r RequestContext<'a, S, F>,
    pub post: &'r P,
}

/// Sign-in of one isolate: settings, derived keys and the ID-token key cache.
pub struct SignIn {
    settings: SignInSettings,
    sealer: Sealer,
    keys: RefCell<KeyCache>,
    /// Providers' endpoints by provider name, for ENDPOINTS_TTL.
    endpoints: RefCell<TtlCache<String, Endpoints>>,
}

/// A response and the line to log (never holding a secret).
pub(crate) type Answer = (HttpResponse, Option<String>);

fn html(status: u16, body: String) -> HttpResponse {
    HttpResponse::text(status, "text/html; charset=utf-8", body)
}

/// Every sign-in response's headers.
fn harden(mut r: HttpResponse) -> HttpResponse {
    for (n, v) in [
        ("content-security-policy", page::CSP),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        // Not no-referrer: with it Chrome sends `Origin: null` on our own form posts.
        ("referrer-policy", "same-origin"),
        ("cache-control", "no-store"),
    ] {
        // Not twice: JSON answers (device login) already say no-store.
        if r.header(n).is_none() {
            r = r.with_header(n, v);
        }
    }
    r
}

fn redirect(to: &str) -> HttpResponse {
    HttpResponse::text(303, "text/plain; charset=utf-8", "").with_header("location", to.to_string())
}

/// The one value of `name` in a query or form; absent, repeated or oversized: `None`.
fn param(text: &str, name: &str) -> Option<String> {
    if text.len() > MAX_QUERY_LEN {
        return None;
    }
    let mut found = None;
    for (k, v) in form_urlencoded::parse(text.as_bytes()) {
        if k == name {
            if found.is_some() {
                return None;
            }
            found = Some(v.into_owned());
        }
    }
    found
}

/// Where a finished sign-in goes: the account page, or back to the device approval page it
/// started from ([`device::return_path`]: an allow-listed path rebuilt from the parsed code, never
/// a URL from input), so sign-in can never become an open redirect.
pub const AFTER_SIGNIN: &str = "/account";

fn shown(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(128).collect()
}

/// The ACL rule as a sentence, in `tollgate explain`'s words.
fn describe(index: usize, rule: &Rule, account: &str) -> String {
    let what = format!(
        "{} {}",
        rule.matcher.resource_type.as_deref().unwrap_or("any type"),
        rule.matcher
            .name
            .as_deref()
            .map(|n| n.replace("${account}", account))
            .unwrap_or_else(|| "*".into())
    );
    let mut s = if rule.actions.is_empty() {
        format!("rule #{index} explicitly denies {what}")
    } else {
        format!(
            "rule #{index} grants [{}] on {what}",
            rule.actions.join(",")
        )
    };
    if let Some(c) = &rule.comment {
        s.push_str(&format!(" ({c})"));
    }
    s
}

impl SignIn {
    pub fn new(settings: SignInSettings) -> SignIn {
        SignIn {
            sealer: Sealer::new(&settings.session_key),
            settings,
            keys: RefCell::new(KeyCache::default()),
            endpoints: RefCell::new(TtlCache::new(ENDPOINTS_CAPACITY)),
        }
    }

    fn secure(&self) -> bool {
        !self.settings.insecure_local
    }

    /// `__Host-` pins the session cookie to this exact origin over https; browsers only accept
    /// that prefix with `Secure`, so local http uses the plain name.
    fn session_cookie_name(&self) -> &'static str {
        if self.secure() {
            "__Host-tg_session"
        } else {
            "tg_session"
        }
    }

    fn set_session(&self, value: &str, max_age: u64) -> String {
        set_cookie(
            self.session_cookie_name(),
            value,
            "/",
            max_age,
            self.secure(),
        )
    }

    fn set_login(&self, value: &str, max_age: u64) -> String {
        set_cookie(LOGIN_COOKIE, value, "/login", max_age, self.secure())
    }

    /// Whether a form's `Origin` is this site: `SIGNIN_URL`, or the request's own host (a proxy in
    /// front, such as `wrangler dev`'s, rewrites Host and Origin alike). A cross-site form's Origin
    /// names the other site and matches neither.
    fn same_origin(&self, req: &HttpRequest, origin: &str) -> bool {
        origin == self.settings.base_url
            || origin
                .split_once("://")
                .is_some_and(|(_, host)| req.header("host") == Some(host))
    }

    fn session(&self, req: &HttpRequest, now: u64) -> Option<Session> {
        let raw = cookie(req.header("cookie"), self.session_cookie_name())?;
        let s: Session = self.sealer.open(Purpose::Session, raw)?;
        (s.e > now && self.settings.provider(&s.p).is_some()).then_some(s)
    }

    pub async fn handle<S: Store, F: Fetch, P: Post>(
        &self,
        req: &HttpRequest,
        io: &Io<'_, '_, S, F, P>,
    ) -> Answer {
        let (resp, log) = match (req.method.as_str(), req.path.as_str()) {
            ("GET" | "HEAD", "/account/style.css") => (
                HttpResponse::text(200, "text/css; charset=utf-8", page::STYLE),
                None,
            ),
            ("GET", "/login") => self.start(req, io).await,
            ("GET", "/login/callback") => self.callback(req, io).await,
            ("GET", "/account") => self.account(req, io, None).await,
            (_, "/device/code") => self.device_code(req, io).await,
            ("GET", "/device") => self.device_page(req, io).await,
            ("POST", "/device") => self.device_decide(req, io).await,
            ("POST", path) if is_signin_path(path) && path != "/login/callback" => {
                self.post(req, io).await
            }
            (_, path) if is_signin_path(path) => (
                html(
                    405,
                    page::message("Not allowed", "This method is not allowed here.", None),
                ),
                None,
            ),
            _ => (
                html(404, page::message("Not found", "No such page.", None)),
                None,
            ),
        };
        (harden(resp), log)
    }

    fn unavailable(&self, why: &str) -> Answer {
        (
            html(
                503,
                page::message(
                    "Sign-in is unavailable",
                    &format!("{why}. Try again later."),
                    None,
                ),
            ),
            Some(format!("signin unavailable: {why}")),
        )
    }

    /// The optional `user:` record of a signed-in account (disabled blocks; groups and labels
    /// add to the IdP's), read like every login reads it: cached and through the shared
    /// validator. A malformed record or a store error fails closed.
    async fn user_record<S: Store, F: Fetch, P: Post>(
        &self,
        io: &Io<'_, '_, S, F, P>,
        account: &str,
    ) -> Result<UserRecord, SignInError> {
        match crate::token_service::user_record(io.app, io.ctx, account).await {
            Ok(None) => Ok(UserRecord::default()),
            Ok(Some(u)) => Ok((*u).clone()),
            Err(e) => Err(SignInError::Unavailable(e.to_string())),
        }
    }
}
