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
//!   sealed session cookie, and a redirect to `/account` (never to a URL from input).
//! - `GET /account`: who you are, your groups, the ACL rules that apply to you (and an explain
//!   form in `tollgate explain`'s words), the create form and your credentials.
//! - `POST /account/credentials`, `POST /account/credentials/revoke`, `POST /logout`: each needs
//!   the session's CSRF token (and, when the browser sends one, an `Origin` equal to SIGNIN_URL).
//!
//! Failed callbacks count against the login throttle (per client address), like wrong passwords.
//! Log lines name the provider, account and reason, never a code, token, state or credential.

pub mod credentials;
pub mod oidc;
pub mod page;
pub mod person;
pub mod seal;
pub mod settings;
#[cfg(test)]
mod tests;

use crate::credentials::{secret_digest, UserRecord};
use crate::federation::{Fetch, KeyCache};
use crate::policy::{Acl, Principal, Rule};
use crate::protocol::{ErrorKind, HttpRequest, HttpResponse, TokenError};
use crate::scope::parse_scopes;
use crate::service::throttle::{Attempt, Throttle};
use crate::service::{RandomError, Rng};
use crate::store::Store;
use oidc::{Endpoints, Pending, Post, SignInError, PENDING_TTL};
use person::Person;
use seal::{cookie, set_cookie, Purpose, Sealer};
use serde::{Deserialize, Serialize};
use settings::SignInSettings;
use std::cell::RefCell;

pub use settings::Provider;

/// Paths answered by [`SignIn::handle`].
pub const SIGNIN_PATHS: [&str; 7] = [
    "/login",
    "/login/callback",
    "/logout",
    "/account",
    "/account/style.css",
    "/account/credentials",
    "/account/credentials/revoke",
];

pub fn is_signin_path(path: &str) -> bool {
    SIGNIN_PATHS.contains(&path)
}

/// Bytes of a query string or form body the pages read.
const MAX_QUERY_LEN: usize = 4096;
/// Seconds a provider's endpoints are kept in the isolate.
const ENDPOINTS_TTL: u64 = 300;
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

/// What a request needs from the outside world, passed together.
pub struct Io<'a, S: Store, F: Fetch, P: Post> {
    pub store: &'a S,
    pub fetch: &'a F,
    pub post: &'a P,
    pub now: u64,
    pub rng: Rng<'a>,
}

/// Sign-in of one isolate: settings, derived keys, the ID-token key cache and the throttle.
pub struct SignIn {
    settings: SignInSettings,
    sealer: Sealer,
    keys: RefCell<KeyCache>,
    endpoints: RefCell<Vec<(String, u64, Endpoints)>>,
    throttle: Throttle,
}

/// A response and the line to log (never holding a secret).
pub type Answer = (HttpResponse, Option<String>);

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
        r = r.with_header(n, v);
    }
    r
}

fn redirect(to: &str) -> HttpResponse {
    HttpResponse::text(303, "text/plain; charset=utf-8", "").with_header("location", to)
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

/// Where a finished sign-in goes: always the account page. No query parameter, cookie or
/// header chooses the destination, so sign-in can never become an open redirect.
pub const AFTER_SIGNIN: &str = "/account";

fn random32(rng: &mut Rng) -> Result<[u8; 32], RandomError> {
    let mut b = [0u8; 32];
    rng(&mut b)?;
    Ok(b)
}

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
    pub fn new(settings: SignInSettings, throttle: Throttle) -> SignIn {
        SignIn {
            sealer: Sealer::new(&settings.session_key),
            settings,
            keys: RefCell::new(KeyCache::default()),
            endpoints: RefCell::new(Vec::new()),
            throttle,
        }
    }

    pub fn settings(&self) -> &SignInSettings {
        &self.settings
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
        io: &mut Io<'_, S, F, P>,
    ) -> Answer {
        let (resp, log) = match (req.method.as_str(), req.path.as_str()) {
            ("GET" | "HEAD", "/account/style.css") => (
                HttpResponse::text(200, "text/css; charset=utf-8", page::STYLE),
                None,
            ),
            ("GET", "/login") => self.start(req, io).await,
            ("GET", "/login/callback") => self.callback(req, io).await,
            ("GET", "/account") => self.account(req, io, None).await,
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

    async fn provider_endpoints(
        &self,
        p: &Provider,
        fetch: &impl Fetch,
        now: u64,
    ) -> Result<Endpoints, SignInError> {
        if let Some((_, _, e)) = self
            .endpoints
            .borrow()
            .iter()
            .find(|(n, exp, _)| *n == p.name && *exp > now)
        {
            return Ok(e.clone());
        }
        let e = oidc::endpoints(p, fetch)
            .await
            .map_err(|why| SignInError::Unavailable(format!("provider '{}': {why}", p.name)))?;
        let mut cache = self.endpoints.borrow_mut();
        cache.retain(|(n, _, _)| *n != p.name);
        cache.push((p.name.clone(), now + ENDPOINTS_TTL, e.clone()));
        Ok(e)
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

    /// `GET /login`.
    async fn start<S: Store, F: Fetch, P: Post>(
        &self,
        req: &HttpRequest,
        io: &mut Io<'_, S, F, P>,
    ) -> Answer {
        let chosen = param(&req.query, "provider");
        let provider = match (&chosen, self.settings.providers.as_slice()) {
            (Some(name), _) => self.settings.provider(name),
            (None, [only]) => Some(only),
            (None, list) => return (html(200, page::providers(list)), None),
        };
        let Some(p) = provider else {
            return (
                html(
                    404,
                    page::message(
                        "Unknown provider",
                        "There is no such sign-in provider.",
                        Some(("/login", "Choose a provider")),
                    ),
                ),
                None,
            );
        };
        let ep = match self.provider_endpoints(p, io.fetch, io.now).await {
            Ok(e) => e,
            Err(e) => return self.unavailable(&e.to_string()),
        };
        let mut parts = [[0u8; 32]; 3];
        for part in &mut parts {
            match random32(&mut io.rng) {
                Ok(b) => *part = b,
                Err(e) => return self.unavailable(&e.to_string()),
            }
        }
        let pending = Pending {
            p: p.name.clone(),
            state: oidc::random_text(&parts[0]),
            nonce: oidc::random_text(&parts[1]),
            v: oidc::random_text(&parts[2]),
            e: io.now + PENDING_TTL,
        };
        let url = match oidc::authorization_url(p, &ep, &self.settings.redirect_uri(), &pending) {
            Ok(u) => u,
            Err(e) => return self.unavailable(&e),
        };
        let Some(sealed) = self.sealer.seal(Purpose::Login, &pending) else {
            return self.unavailable("the login cookie could not be made");
        };
        (
            HttpResponse::text(302, "text/plain; charset=utf-8", "")
                .with_header("location", url)
                .with_header("set-cookie", self.set_login(&sealed, PENDING_TTL)),
            None,
        )
    }

    /// `GET /login/callback`.
    async fn callback<S: Store, F: Fetch, P: Post>(
        &self,
        req: &HttpRequest,
        io: &mut Io<'_, S, F, P>,
    ) -> Answer {
        let clear_login = self.set_login("", 0);
        let attempt = req
            .header("cf-connecting-ip")
            .map(|ip| Attempt::password(&format!("signin:{ip}"), Some(ip)));
        if let Err(e) = self.throttle.check(attempt.as_ref(), io.now) {
            return (throttled(e), Some("signin refused: throttled".into()));
        }
        match self.finish(req, io).await {
            Ok(person) => {
                let sid = match random32(&mut io.rng) {
                    Ok(b) => oidc::random_text(&b),
                    Err(e) => return self.unavailable(&e.to_string()),
                };
                let session = Session {
                    sid,
                    p: person.provider.clone(),
                    a: person.account.clone(),
                    g: person.groups.clone(),
                    e: io.now + self.settings.session_ttl,
                };
                let Some(sealed) = self.sealer.seal(Purpose::Session, &session) else {
                    return self
                        .unavailable("the session does not fit in a cookie (too many groups?)");
                };
                (
                    redirect(AFTER_SIGNIN)
                        .with_header("set-cookie", clear_login)
                        .with_header(
                            "set-cookie",
                            self.set_session(&sealed, self.settings.session_ttl),
                        ),
                    Some(format!(
                        "signin ok provider={} account={} groups={}",
                        person.provider,
                        person.account,
                        person.groups.join(",")
                    )),
                )
            }
            Err(SignInError::Unavailable(why)) => {
                let (r, log) = self.unavailable(&why);
                (r.with_header("set-cookie", clear_login), log)
            }
            Err(SignInError::Denied(why)) => {
                let err = self
                    .throttle
                    .failed(
                        attempt.as_ref(),
                        TokenError::new(ErrorKind::InvalidCredentials, why.clone()),
                        io.now,
                    )
                    .await;
                let resp = if err.kind == ErrorKind::TooManyRequests {
                    throttled(err)
                } else {
                    html(
                        401,
                        page::message("Sign-in failed", &why, Some(("/login", "Sign in again"))),
                    )
                };
                (
                    resp.with_header("set-cookie", clear_login),
                    Some(format!("signin refused: {why}")),
                )
            }
        }
    }

    async fn finish<S: Store, F: Fetch, P: Post>(
        &self,
        req: &HttpRequest,
        io: &mut Io<'_, S, F, P>,
    ) -> Result<Person, SignInError> {
        let denied = |m: &str| SignInError::Denied(m.to_string());
        if let Some(e) = param(&req.query, "error") {
            return Err(SignInError::Denied(format!(
                "the provider did not sign you in ({})",
                shown(&e)
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect::<String>()
            )));
        }
        let pending: Pending = cookie(req.header("cookie"), LOGIN_COOKIE)
            .and_then(|c| self.sealer.open(Purpose::Login, c))
            .ok_or_else(|| denied("no sign-in was started in this browser (or its cookie was altered): start again"))?;
        if pending.e <= io.now {
            return Err(denied("the sign-in took more than 10 minutes: start again"));
        }
        let state = param(&req.query, "state").unwrap_or_default();
        if !crate::credentials::constant_time_eq(state.as_bytes(), pending.state.as_bytes()) {
            return Err(denied("the state does not match this browser's sign-in (possible cross-site request): start again"));
        }
        let code = param(&req.query, "code")
            .filter(|c| !c.is_empty() && c.len() <= 2048)
            .ok_or_else(|| denied("the provider's answer has no code"))?;
        let p = self
            .settings
            .provider(&pending.p)
            .ok_or_else(|| denied("the provider of this sign-in is no longer configured"))?;
        // Single use of this answer, before the code is sent anywhere: the marker outlives the
        // login cookie. KV is eventually consistent, so the provider's own single-use rule on
        // codes (which every OIDC provider enforces) remains the backstop.
        let used = format!("signin-used:{}", secret_digest(&pending.state));
        let store_err = |e: crate::store::StoreError| SignInError::Unavailable(e.to_string());
        if io.store.get(&used).await.map_err(store_err)?.is_some() {
            return Err(denied(
                "this sign-in answer was already used (code replay): start again",
            ));
        }
        io.store
            .put(&used, "1", Some(PENDING_TTL))
            .await
            .map_err(store_err)?;
        let ep = self.provider_endpoints(p, io.fetch, io.now).await?;
        let id_token = oidc::exchange(
            p,
            &ep,
            io.post,
            &code,
            &pending.v,
            &self.settings.redirect_uri(),
        )
        .await?;
        let person =
            oidc::verify_id_token(p, &id_token, &pending.nonce, &self.keys, io.fetch, io.now)
                .await?;
        if self.user_record(io.store, &person.account).await?.disabled {
            return Err(SignInError::Denied(format!(
                "account '{}' is disabled",
                person.account
            )));
        }
        Ok(person)
    }

    /// The optional `user:` record of a signed-in account (disabled blocks; groups and labels
    /// add to the IdP's). A malformed record fails closed.
    async fn user_record(
        &self,
        store: &impl Store,
        account: &str,
    ) -> Result<UserRecord, SignInError> {
        match store.get(&format!("user:{account}")).await {
            Ok(None) => Ok(UserRecord::default()),
            Ok(Some(t)) => UserRecord::from_json(&t).map_err(|e| {
                SignInError::Unavailable(format!(
                    "the stored record user:{account} is malformed ({e})"
                ))
            }),
            Err(e) => Err(SignInError::Unavailable(e.to_string())),
        }
    }

    /// `GET /account` (also the page after a form).
    async fn account<S: Store, F: Fetch, P: Post>(
        &self,
        req: &HttpRequest,
        io: &mut Io<'_, S, F, P>,
        outcome: Option<Outcome>,
    ) -> Answer {
        let Some(s) = self.session(req, io.now) else {
            return (redirect("/login"), None);
        };
        let user = match self.user_record(io.store, &s.a).await {
            Ok(u) if u.disabled => {
                return (
                    html(
                        403,
                        page::message(
                            "Account disabled",
                            &format!("The account '{}' is disabled.", s.a),
                            None,
                        ),
                    )
                    .with_header("set-cookie", self.set_session("", 0)),
                    Some(format!("signin page refused: account {} is disabled", s.a)),
                )
            }
            Ok(u) => u,
            Err(e) => return self.unavailable(&e.to_string()),
        };
        let mut groups = s.g.clone();
        groups.extend(user.groups.iter().cloned());
        groups.sort();
        groups.dedup();
        let principal = Principal::user(&s.a, &groups, &user.labels);
        let service = &self.settings.service;
        let acl = match io.store.get("acl").await {
            Ok(Some(t)) => match Acl::from_json(&t) {
                Ok(a) => a,
                Err(e) => return self.unavailable(&format!("the stored ACL is malformed ({e})")),
            },
            Ok(None) => Acl::default(),
            Err(e) => return self.unavailable(&e.to_string()),
        };
        let rules = acl
            .rules_for(&principal, service)
            .into_iter()
            .map(|(i, r)| describe(i, r, &s.a))
            .collect();
        let explained = param(&req.query, "scope")
            .filter(|v| !v.trim().is_empty())
            .map(|asked| {
                let lines = match parse_scopes([asked.as_str()]) {
                    Err(e) => vec![e.to_string()],
                    Ok(scopes) => acl
                        .explain(&principal, service, &scopes)
                        .into_iter()
                        .flat_map(|d| {
                            vec![
                                d.scope.to_string(),
                                format!("  granted: {}", list(&d.granted)),
                                format!("  refused: {}", list(&d.refused)),
                                format!("  why:     {}", d.reason),
                            ]
                        })
                        .collect(),
                };
                (asked, lines)
            });
        let credentials = match credentials::list(io.store, &s.a, io.now).await {
            Ok(c) => c,
            Err(e) => return self.unavailable(&e.to_string()),
        };
        let csrf = self.sealer.csrf_token(&s.sid);
        let (created, notice, error, status) = match outcome {
            None => (None, None, None, 200),
            Some(Outcome::Created(c)) => (Some(c), None, None, 200),
            Some(Outcome::Notice(n)) => (None, Some(n), None, 200),
            Some(Outcome::Error(e)) => (None, None, Some(e), 400),
        };
        let view = page::AccountView {
            account: &s.a,
            provider: self
                .settings
                .provider(&s.p)
                .map(Provider::label)
                .unwrap_or(&s.p),
            groups: &groups,
            csrf: &csrf,
            service,
            registry: &self.settings.registry_host,
            max_days: self.settings.max_days,
            rules,
            explained,
            credentials,
            created,
            notice,
            error,
        };
        (html(status, page::account(&view)), None)
    }

    /// The three forms. Session, then CSRF (and Origin), before anything else.
    async fn post<S: Store, F: Fetch, P: Post>(
        &self,
        req: &HttpRequest,
        io: &mut Io<'_, S, F, P>,
    ) -> Answer {
        let Some(s) = self.session(req, io.now) else {
            return (
                html(
                    401,
                    page::message(
                        "Signed out",
                        "Your session has ended: sign in again.",
                        Some(("/login", "Sign in")),
                    ),
                ),
                None,
            );
        };
        let form = std::str::from_utf8(&req.body).unwrap_or("");
        let origin_ok = req
            .header("origin")
            .is_none_or(|o| self.same_origin(req, o));
        let csrf_ok = param(form, "csrf").is_some_and(|t| self.sealer.csrf_ok(&s.sid, &t));
        if !origin_ok || !csrf_ok || req.body_too_large {
            return (
                html(403, page::message("Refused", "This form did not come from your account page (CSRF check failed). Reload the page and try again.", Some(("/account", "Your account")))),
                Some(format!(
                    "signin form refused for {}: {}",
                    s.a,
                    if origin_ok {
                        "CSRF token missing or wrong".to_string()
                    } else {
                        format!(
                            "Origin {} is neither SIGNIN_URL nor this host ({})",
                            shown(req.header("origin").unwrap_or("")),
                            shown(req.header("host").unwrap_or("no Host header"))
                        )
                    }
                )),
            );
        }
        match req.path.as_str() {
            "/logout" => (
                html(200, page::message("Signed out", "You are signed out. Your credentials keep working until they expire or you revoke them.", Some(("/login", "Sign in again"))))
                    .with_header("set-cookie", self.set_session("", 0)),
                Some(format!("signout account={}", s.a)),
            ),
            "/account/credentials" => {
                let person = Person { provider: s.p.clone(), account: s.a.clone(), groups: s.g.clone() };
                let name = param(form, "name").unwrap_or_default();
                let days = param(form, "days").and_then(|d| d.trim().parse::<u64>().ok()).unwrap_or(0);
                let disabled = match self.user_record(io.store, &s.a).await {
                    Ok(u) => u.disabled,
                    Err(e) => return self.unavailable(&e.to_string()),
                };
                if disabled {
                    return self.account(req, io, Some(Outcome::Error(format!("account '{}' is disabled", s.a)))).await;
                }
                let random = match random32(&mut io.rng) {
                    Ok(b) => b,
                    Err(e) => return self.unavailable(&e.to_string()),
                };
                match credentials::create(io.store, &person, &name, days, self.settings.max_days, &random, io.now).await {
                    Ok((secret, entry)) => {
                        let log = format!("signin credential created account={} name={} expires={}", s.a, shown(&entry.name), entry.expires);
                        let (r, _) = self.account(req, io, Some(Outcome::Created(page::NewCredential { secret, entry }))).await;
                        (r, Some(log))
                    }
                    Err(e) => self.account(req, io, Some(Outcome::Error(e.to_string()))).await,
                }
            }
            _ => {
                let id = param(form, "id").unwrap_or_default();
                match credentials::revoke(io.store, &s.a, &id, self.settings.max_days, io.now).await {
                    Ok(gone) => {
                        let log = format!("signin credential revoked account={} name={}", s.a, shown(&gone.name));
                        let (r, _) = self.account(req, io, Some(Outcome::Notice(format!("Revoked “{}”.", gone.name)))).await;
                        (r, Some(log))
                    }
                    Err(e) => self.account(req, io, Some(Outcome::Error(e.to_string()))).await,
                }
            }
        }
    }
}

/// What a form did, for the page that follows.
enum Outcome {
    Created(page::NewCredential),
    Notice(String),
    Error(String),
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "-".into()
    } else {
        items.join(", ")
    }
}

fn throttled(e: TokenError) -> HttpResponse {
    let after = e.retry_after.unwrap_or(60);
    html(
        429,
        page::message(
            "Too many attempts",
            &format!("Too many failed sign-ins from your address: try again in {after} seconds."),
            None,
        ),
    )
    .with_header("retry-after", after.to_string())
}
