//! The device flow's HTTP side: `POST /device/code` and the device grant of `POST /token`
//! (OAuth2 JSON), and `GET|POST /device` (the approval pages, behind the sign-in).

use super::super::*;
use super::{page as device_page, Approval, Lookup, Refused, GRANT_TYPE};
use crate::protocol::request::check_form_content_type;
use crate::token_service::{AuditEvent, AuthError, Outcome as AuditOutcome};

/// Whether a request is the token endpoint's device grant (RFC 8628 3.4), which sign-in
/// answers rather than the token service.
pub fn is_device_grant(req: &HttpRequest) -> bool {
    req.method == "POST"
        && req.path == "/token"
        && !req.body_too_large
        && std::str::from_utf8(&req.body)
            .ok()
            .and_then(|f| param(f, "grant_type"))
            .is_some_and(|g| g == GRANT_TYPE)
}

/// An OAuth2 error (RFC 6749 5.2 / RFC 8628 3.5).
fn oauth_error(status: u16, error: &str, description: &str) -> HttpResponse {
    #[derive(Serialize)]
    struct Body<'a> {
        error: &'a str,
        error_description: &'a str,
    }
    HttpResponse::json(
        status,
        &Body {
            error,
            error_description: description,
        },
    )
}

/// `POST /device/code`'s answer (RFC 8628 3.2). Structs rather than `json!`: smaller wasm.
#[derive(Serialize)]
struct CodeBody {
    device_code: String,
    user_code: String,
    verification_uri: String,
    verification_uri_complete: String,
    expires_in: u64,
    interval: u64,
}

/// The device grant's success: a token that grants nothing yet, and the person's credential
/// for `docker login` / Basic (the contract with `docker-credential-tollgate`).
#[derive(Serialize)]
struct TokenBody {
    token_type: &'static str,
    access_token: String,
    expires_in: u64,
    issued_at: u64,
    username: String,
    password: String,
    password_expires_at: u64,
    service: String,
}

/// The form body of a device request; a parameter given twice is refused (which one to
/// believe would be a guess).
fn form_of<'r>(req: &'r HttpRequest, names: &[&str]) -> Result<&'r str, HttpResponse> {
    if req.body_too_large {
        return Err(oauth_error(
            413,
            "invalid_request",
            "the request body is too large",
        ));
    }
    check_form_content_type(req.header("content-type"), &req.body)
        .map_err(|e| oauth_error(400, "invalid_request", &e.message))?;
    let form = std::str::from_utf8(&req.body)
        .ok()
        .filter(|f| f.len() <= MAX_QUERY_LEN)
        .ok_or_else(|| oauth_error(400, "invalid_request", "the body is not a short UTF-8 form"))?;
    for name in names {
        if form_urlencoded::parse(form.as_bytes())
            .filter(|(k, _)| k == name)
            .count()
            > 1
        {
            return Err(oauth_error(
                400,
                "invalid_request",
                &format!("parameter '{name}' is given more than once"),
            ));
        }
    }
    Ok(form)
}

/// The checked `client_id` of a device request.
fn client_id(form: &str) -> Result<String, HttpResponse> {
    let id = param(form, "client_id")
        .ok_or_else(|| oauth_error(400, "invalid_request", "parameter 'client_id' is required"))?;
    if !super::valid_client_id(&id) {
        return Err(oauth_error(
            400,
            "invalid_client",
            "client_id must be 1-64 characters of A-Z, a-z, 0-9, '.', '_' and '-'",
        ));
    }
    Ok(id)
}

fn unavailable_json(e: &impl std::fmt::Display) -> Answer {
    (
        oauth_error(503, "temporarily_unavailable", &e.to_string()),
        Some(format!("device flow unavailable: {e}")),
    )
}

/// `/device?user_code=XXXX-XXXX` for a code that could be one, else `/device`.
fn device_path(code: Option<&str>) -> String {
    match code.and_then(super::normalize_user_code) {
        Some(c) => format!("/device?user_code={}", super::display_user_code(&c)),
        None => "/device".into(),
    }
}

/// Where a sign-in started from a device page returns: the only destination besides
/// [`AFTER_SIGNIN`], rebuilt from the parsed code (never the input echoed), so it is always a
/// path on this site.
pub fn return_path(next: &str) -> Option<String> {
    let (path, query) = next.split_once('?').unwrap_or((next, ""));
    (path == "/device").then(|| device_path(param(query, "user_code").as_deref()))
}

impl SignIn {
    /// `POST /device/code` (RFC 8628 3.1, 3.2).
    pub(in crate::signin) async fn device_code<S: Store, F: Fetch, P: Post>(
        &self,
        req: &HttpRequest,
        io: &Io<'_, '_, S, F, P>,
    ) -> Answer {
        if !io.app.settings().mode.issues_tokens() {
            // The code could never be exchanged: there is no token endpoint (MODE=proxy).
            let msg = "device login needs the token endpoint here (MODE issuer or both)";
            return (oauth_error(404, "invalid_request", msg), None);
        }
        if req.method != "POST" {
            let r = oauth_error(405, "invalid_request", "use POST for /device/code")
                .with_header("allow", "POST");
            return (r, None);
        }
        let form = match form_of(req, &["client_id", "service", "scope"]) {
            Ok(f) => f,
            Err(r) => return (r, None),
        };
        let client_id = match client_id(form) {
            Ok(c) => c,
            Err(r) => return (r, None),
        };
        let service = match param(form, "service") {
            None => self.settings.service.clone(),
            Some(s) if io.app.settings().knows_service(&s) => s,
            Some(s) => {
                let msg = format!(
                    "service '{}' is not served here; valid services: {}",
                    shown(&s),
                    io.app.settings().services.join(", ")
                );
                return (oauth_error(400, "invalid_request", &msg), None);
            }
        };
        if let Err(AuthError::Throttled { retry_after }) =
            crate::token_service::count_device_code(io.app, io.ctx).await
        {
            let msg = format!(
                "too many device codes from your address: try again in {retry_after} seconds"
            );
            return (
                oauth_error(429, "slow_down", &msg)
                    .with_header("retry-after", retry_after.to_string()),
                Some(format!(
                    "device code refused: throttled client_id={client_id}"
                )),
            );
        }
        let (Ok(a), Ok(b)) = (io.ctx.random::<32>(), io.ctx.random::<32>()) else {
            return unavailable_json(&crate::token_service::RandomError);
        };
        let timing = &self.settings.device;
        match super::start(
            io.ctx.store,
            timing,
            &client_id,
            &service,
            (&a, &b),
            io.ctx.now,
        )
        .await
        {
            Ok(auth) => {
                let uri = format!("{}/device", self.settings.base_url);
                let shown_code = super::display_user_code(&auth.user_code);
                let body = CodeBody {
                    verification_uri_complete: format!("{uri}?user_code={shown_code}"),
                    device_code: auth.device_code,
                    user_code: shown_code,
                    verification_uri: uri,
                    expires_in: auth.expires_in,
                    interval: auth.interval,
                };
                (
                    HttpResponse::json(200, &body),
                    Some(format!(
                        "device code issued client_id={client_id} service={service}"
                    )),
                )
            }
            Err(e) => unavailable_json(&e),
        }
    }

    /// The device grant of `POST /token` (RFC 8628 3.4, 3.5).
    pub async fn device_token<S: Store, F: Fetch, P: Post>(
        &self,
        req: &HttpRequest,
        io: &Io<'_, '_, S, F, P>,
    ) -> Answer {
        let (resp, ev) = self.device_grant(req, io).await;
        (harden(resp), ev.map(|e| e.to_json_line()))
    }

    async fn device_grant<S: Store, F: Fetch, P: Post>(
        &self,
        req: &HttpRequest,
        io: &Io<'_, '_, S, F, P>,
    ) -> (HttpResponse, Option<AuditEvent>) {
        let form = match form_of(req, &["client_id", "device_code", "grant_type"]) {
            Ok(f) => f,
            Err(r) => return (r, None),
        };
        let client_id = match client_id(form) {
            Ok(c) => c,
            Err(r) => return (r, None),
        };
        let Some(device_code) = param(form, "device_code") else {
            let r = oauth_error(
                400,
                "invalid_request",
                "parameter 'device_code' is required",
            );
            return (r, None);
        };
        let mut ev = AuditEvent::new(io.ctx.now, "device_code");
        ev.client_id = Some(client_id.clone());
        ev.client_ip = AuditEvent::bounded(io.ctx.client_ip);
        ev.user_agent = AuditEvent::bounded(req.header("user-agent"));
        let Ok(random) = io.ctx.random::<32>() else {
            let r = oauth_error(503, "temporarily_unavailable", "no randomness: try again");
            return (r, None);
        };
        let timing = &self.settings.device;
        let got = super::exchange(
            io.ctx.store,
            timing,
            self.settings.max_days,
            &device_code,
            &client_id,
            &random,
            io.ctx.now,
        )
        .await;
        let x = match got {
            Ok(x) => x,
            Err(refused) => {
                let (status, error, why) = match refused {
                    Refused::Grant(e, d) => (400, e, d),
                    Refused::Failed(super::DeviceError::Broken(m)) => (500, "server_error", m),
                    Refused::Failed(e) => (503, "temporarily_unavailable", e.to_string()),
                };
                // Polls in progress are not audit events: one every few seconds per login.
                let logged = !matches!(error, "authorization_pending" | "slow_down");
                ev.status = status;
                ev.outcome = if status >= 500 {
                    AuditOutcome::Failed
                } else {
                    AuditOutcome::Refused
                };
                let r = oauth_error(status, error, &why);
                ev.reason = Some(why);
                return (r, logged.then_some(ev));
            }
        };
        ev.account = Some(x.account.clone());
        ev.credential = Some("personal");
        ev.credential_name = Some(client_id.clone());
        ev.service = Some(x.service.clone());
        let (token, jti, ttl) = match io.app.login_token(&x.account, &x.service, io.ctx) {
            Ok(t) => t,
            Err(e) => {
                ev.status = 500;
                ev.outcome = AuditOutcome::Failed;
                ev.reason = Some(e.message.clone());
                return (oauth_error(500, "server_error", &e.message), Some(ev));
            }
        };
        ev.jti = Some(jti);
        ev.status = 200;
        ev.outcome = AuditOutcome::Issued;
        let body = TokenBody {
            token_type: "Bearer",
            access_token: token,
            expires_in: ttl,
            issued_at: io.ctx.now,
            username: x.account,
            password: x.password,
            password_expires_at: x.password_expires_at,
            service: x.service,
        };
        (HttpResponse::json(200, &body), Some(ev))
    }

    /// The pending record a typed code names, under the sign-in throttle: a wrong code counts
    /// as a failed sign-in (a signed-in person guessing others' codes is throttled like a
    /// password guesser). The refusal is the page to show.
    async fn device_lookup<S: Store, F: Fetch, P: Post>(
        &self,
        io: &Io<'_, '_, S, F, P>,
        input: &str,
    ) -> Result<(String, super::DeviceRecord), Answer> {
        let checked = crate::token_service::check_sign_in(io.app, io.ctx, async {
            match super::find(io.ctx.store, input, io.ctx.now).await {
                Err(Lookup::Unknown) => Err(AuthError::Rejected(Lookup::Unknown.message())),
                other => Ok(other),
            }
        })
        .await;
        let shown_input = shown(input);
        let (status, message) = match checked {
            Ok(Ok(found)) => return Ok(found),
            Ok(Err(Lookup::Failed(e))) => return Err(self.unavailable(&e.to_string())),
            Ok(Err(l)) => (400, l.message()),
            Err(AuthError::Throttled { retry_after }) => (
                429,
                format!(
                    "Too many wrong codes from your address: try again in {retry_after} seconds."
                ),
            ),
            Err(AuthError::Rejected(m)) => (404, m),
            Err(e) => return Err(self.unavailable(&e.to_string())),
        };
        Err((
            html(status, device_page::entry(&shown_input, Some(&message))),
            Some(format!("device code refused: {message}")),
        ))
    }

    /// `GET /device[?user_code=...]`: the entry form, or the confirmation of a live code.
    pub(in crate::signin) async fn device_page<S: Store, F: Fetch, P: Post>(
        &self,
        req: &HttpRequest,
        io: &Io<'_, '_, S, F, P>,
    ) -> Answer {
        let input = param(&req.query, "user_code").filter(|c| !c.trim().is_empty());
        let Some(s) = self.session(req, io.ctx.now) else {
            let back = device_path(input.as_deref());
            let next: String = form_urlencoded::byte_serialize(back.as_bytes()).collect();
            return (redirect(&format!("/login?next={next}")), None);
        };
        let Some(input) = input else {
            return (html(200, device_page::entry("", None)), None);
        };
        let (_, record) = match self.device_lookup(io, &input).await {
            Ok(found) => found,
            Err(refused) => return refused,
        };
        let code = super::normalize_user_code(&input).unwrap_or_default();
        let view = device_page::Confirm {
            user_code: &super::display_user_code(&code),
            client_id: &record.client_id,
            registry: &self.settings.registry_host,
            service: &record.service,
            account: &s.a,
            lifetime: self.settings.device.credential_ttl,
            csrf: &self.sealer.csrf_token(&s.sid),
        };
        (html(200, device_page::confirm(&view)), None)
    }

    /// `POST /device`: Approve or Deny, with the session's CSRF token.
    pub(in crate::signin) async fn device_decide<S: Store, F: Fetch, P: Post>(
        &self,
        req: &HttpRequest,
        io: &Io<'_, '_, S, F, P>,
    ) -> Answer {
        let (s, form) = match self.form_session(req, io.ctx.now) {
            Ok(v) => v,
            Err(refused) => return refused,
        };
        let approve = match param(form, "decision").as_deref() {
            Some("approve") => true,
            Some("deny") => false,
            _ => {
                let page = device_page::entry("", Some("Choose Approve or Deny."));
                return (html(400, page), None);
            }
        };
        let input = param(form, "user_code").unwrap_or_default();
        let (digest, record) = match self.device_lookup(io, &input).await {
            Ok(found) => found,
            Err(refused) => return refused,
        };
        let (client, service) = (record.client_id.clone(), record.service.clone());
        let approval = if approve {
            if let Err(why) = self.may_approve(io, &s.a).await {
                return (
                    html(403, device_page::entry("", Some(&why))),
                    Some(format!("device approval refused for {}: {why}", s.a)),
                );
            }
            Some(Approval {
                account: s.a.clone(),
                provider: s.p.clone(),
                groups: s.g.clone(),
                at: io.ctx.now,
            })
        } else {
            None
        };
        if let Err(e) = super::decide(io.ctx.store, &digest, record, approval, io.ctx.now).await {
            return self.unavailable(&e.to_string());
        }
        let log = format!(
            "device {} account={} client_id={client} service={service}",
            if approve { "approved" } else { "denied" },
            s.a
        );
        let page = if approve {
            device_page::done(
                "Device approved",
                &format!(
                    "Approved. {client} now receives a credential for {} valid for {}; go back to your device. You can revoke it on your account page.",
                    self.settings.registry_host,
                    device_page::duration(self.settings.device.credential_ttl)
                ),
            )
        } else {
            device_page::done(
                "Device denied",
                &format!("Denied. {client} is told that you refused; nothing was granted."),
            )
        };
        (html(200, page), Some(log))
    }

    /// Whether `account` may approve a device now: not disabled, and room for one more
    /// credential. Said here, to the person, rather than to the device after the fact.
    async fn may_approve<S: Store, F: Fetch, P: Post>(
        &self,
        io: &Io<'_, '_, S, F, P>,
        account: &str,
    ) -> Result<(), String> {
        if self
            .user_record(io, account)
            .await
            .map_err(|e| e.to_string())?
            .disabled
        {
            return Err(format!("The account '{account}' is disabled."));
        }
        let held = credentials::list(io.ctx.store, account, io.ctx.now)
            .await
            .map_err(|e| e.to_string())?;
        credentials::check_room(&held).map_err(|e| e.to_string())
    }
}
