//! One token request, start to finish: parse, pick the service, parse scopes, authenticate,
//! check `account`, authorize through the ACL, mint a refresh token if asked, sign, answer.
//!
//! Order matters for cost and safety: everything that can be refused without touching storage or
//! bcrypt is checked first; authentication precedes the ACL; any storage error or malformed record
//! ends the request with a 5xx before anything is signed (fail closed).

use super::audit::{AuditEvent, Outcome};
use super::auth_error::AuthError;
use super::authenticate::{self, Authenticated};
use super::credential::{classify, Presented};
use super::{RequestContext, TokenService};
use crate::federation::Fetch;
use crate::limits::MAX_AUTHORIZATION_LEN;
use crate::out_of_line::out_of_line;
use crate::protocol::request::{check_form_content_type, Grant, TokenRequest};
use crate::protocol::response::{self, Issued};
use crate::protocol::{ErrorKind, Flavor, HttpRequest, HttpResponse, TokenError};
use crate::scope::Scope;
use crate::store::Store;
use crate::token::{Access, RegistryClaims};

/// Random bytes in a `jti` (hex-encoded: 32 characters).
const JTI_BYTES: usize = 16;

pub(super) async fn token<S: Store, F: Fetch>(
    app: &TokenService,
    req: &HttpRequest,
    flavor: Flavor,
    ctx: &RequestContext<'_, S, F>,
) -> (HttpResponse, AuditEvent) {
    let mut ev = AuditEvent::new(
        ctx.now,
        if flavor == Flavor::Distribution {
            "header"
        } else {
            "unknown"
        },
    );
    ev.client_ip = AuditEvent::bounded(ctx.client_ip);
    ev.user_agent = AuditEvent::bounded(req.header("user-agent"));
    match issue(app, req, flavor, ctx, &mut ev).await {
        Ok(resp) => {
            ev.outcome = Outcome::Issued;
            ev.status = resp.status;
            (resp, ev)
        }
        Err(e) => cold::refused(app, flavor, e, ev),
    }
}

/// The single Authorization header, bounded. Two of them are ambiguous and refused.
fn authorization(req: &HttpRequest) -> Result<Option<&str>, TokenError> {
    if req.header_count("authorization") > 1 {
        return Err(cold::refusal(
            ErrorKind::InvalidRequest,
            format_args!("send one Authorization header, not several"),
        ));
    }
    match req.header("authorization") {
        Some(h) if h.len() > MAX_AUTHORIZATION_LEN => Err(cold::refusal(
            ErrorKind::InvalidRequest,
            format_args!("the Authorization header is longer than {MAX_AUTHORIZATION_LEN} bytes"),
        )),
        Some(h) if h.trim().is_empty() => Ok(None),
        other => Ok(other),
    }
}

fn parse_request(req: &HttpRequest, flavor: Flavor) -> Result<TokenRequest, TokenError> {
    match flavor {
        Flavor::Distribution => TokenRequest::from_get(&req.query),
        Flavor::OAuth2 if req.method == "POST" => {
            check_form_content_type(req.header("content-type"), &req.body)?;
            TokenRequest::from_oauth2(&req.query, &req.body)
        }
        Flavor::OAuth2 => TokenRequest::from_oauth2(&req.query, b""),
    }
}

/// The audience. Must be one of SERVICES. When the client names none: the only configured
/// service, or for client_credentials (ChartMuseum's documented request has no `service`) the
/// only RS256 service.
/// Borrowed: the audit line and the claims each keep their own copy.
fn resolve_service<'a>(
    app: &'a TokenService,
    treq: &'a TokenRequest,
) -> Result<&'a str, TokenError> {
    let s = &app.settings;
    match &treq.service {
        Some(name) if s.knows_service(name) => Ok(name),
        Some(name) => Err(cold::unknown_service(name, &s.services)),
        None if s.services.len() == 1 => Ok(&s.services[0]),
        None if treq.grant == Grant::ClientCredentials && s.rs256_services.len() == 1 => {
            Ok(&s.rs256_services[0])
        }
        None => Err(cold::refusal(
            ErrorKind::InvalidRequest,
            format_args!(
                "parameter 'service' is missing; valid services: {}",
                s.services.join(", ")
            ),
        )),
    }
}

fn parse_scopes(raw: &[String]) -> Result<Vec<Scope>, TokenError> {
    crate::scope::parse_scopes(raw.iter().map(String::as_str))
        .map_err(|e| cold::refusal(ErrorKind::InvalidScope, format_args!("{e}")))
}

/// `account=` must name the authenticated user (docker and containers/image send it).
fn check_account(claimed: Option<&str>, who: Option<&Authenticated>) -> Result<(), TokenError> {
    let Some(claimed) = claimed else {
        return Ok(());
    };
    match who {
        Some(a) if a.account == claimed => Ok(()),
        // docker login sends the Basic username (e.g. `github-actions`) as `account`.
        Some(a) if a.login.as_deref() == Some(claimed) => Ok(()),
        Some(a) => Err(cold::refusal(
            ErrorKind::Denied,
            format_args!(
                "account '{claimed}' does not match the authenticated user '{}'",
                a.account
            ),
        )),
        None => Err(cold::refusal(
            ErrorKind::InvalidCredentials,
            format_args!(
                "account '{claimed}' was given without credentials: authenticate with HTTP Basic"
            ),
        )),
    }
}

fn random_bytes<const N: usize, S: Store, F: Fetch>(
    ctx: &RequestContext<'_, S, F>,
) -> Result<[u8; N], TokenError> {
    ctx.random::<N>().map_err(|e| {
        cold::refusal(
            ErrorKind::ServerError,
            format_args!("{e}; no token was issued"),
        )
    })
}

/// A new token's `jti`: [`JTI_BYTES`] random bytes in lower-case hex (every token Tollgate signs,
/// here and in [`TokenService::login_token`]).
pub(super) fn new_jti<S: Store, F: Fetch>(
    ctx: &RequestContext<'_, S, F>,
) -> Result<String, TokenError> {
    Ok(crate::credentials::lower_hex(&random_bytes::<
        JTI_BYTES,
        S,
        F,
    >(ctx)?))
}

/// The kind a rejected credential is reported as, from the credential presented (RFC 6749 5.2
/// names): an API key is a client, a refresh token a grant, anything else user credentials.
fn rejected_kind(presented: &Presented, grant: &Grant) -> ErrorKind {
    match (presented, grant) {
        (_, Grant::ClientCredentials) => ErrorKind::InvalidClient,
        (Presented::RefreshToken { .. }, _) => ErrorKind::InvalidGrant,
        _ => ErrorKind::InvalidCredentials,
    }
}

async fn issue<S: Store, F: Fetch>(
    app: &TokenService,
    req: &HttpRequest,
    flavor: Flavor,
    ctx: &RequestContext<'_, S, F>,
    ev: &mut AuditEvent,
) -> Result<HttpResponse, TokenError> {
    let now = ctx.now;
    let authorization = authorization(req)?;
    let mut treq = parse_request(req, flavor)?;
    ev.grant = treq.grant.name();
    // Moved, not copied: the audit line keeps the scopes as requested, and they are parsed from
    // there.
    ev.requested = std::mem::take(&mut treq.scopes);
    ev.client_id = treq.client_id.clone();
    ev.account = treq.account.clone();
    if let Grant::Password { username, .. } = &treq.grant {
        ev.account = Some(username.clone());
    }

    let service = resolve_service(app, &treq)?;
    ev.service = Some(service.to_string());
    let scopes = parse_scopes(&ev.requested)?;

    // The credential, classified once: it alone decides which check runs (and so whether the
    // brute-force throttle sees a password), whatever the endpoint or grant type.
    let presented = classify(app, ctx, &treq.grant, authorization)
        .await
        .map_err(|e| e.into_token_error(ErrorKind::InvalidRequest))?;
    let bearer = presented.bearer();
    let kind = rejected_kind(&presented, &treq.grant);
    if treq.grant == Grant::ClientCredentials && matches!(presented, Presented::Anonymous) {
        return Err(cold::refusal(
            kind,
            format_args!("grant_type=client_credentials needs an API key: send 'Authorization: Bearer <API key>'"),
        )
        .with_bearer_challenge());
    }
    let who = authenticate::authenticate(app, ctx, &presented, service, &mut ev.issuer)
        .await
        .map_err(|e| cold::auth_refusal(e, kind, bearer, ev))?;
    ev.account = Some(who.as_ref().map(|a| a.account.clone()).unwrap_or_default());
    ev.credential = Some(who.as_ref().map(|a| a.via).unwrap_or("anonymous"));
    ev.credential_name = who.as_ref().and_then(|a| a.key_name.clone()); // issue 16: audit joins
    ev.identity_jti = who
        .as_ref()
        .and_then(|a| a.identity.as_ref())
        .and_then(|id| id.jti.clone());
    check_account(treq.account.as_deref(), who.as_deref())?;
    // A network-bound credential was already refused from elsewhere (authenticate); the token
    // carries the binding as its `net` claim, so the proxy keeps enforcing it (issue 16).
    let net = who.as_ref().and_then(|a| a.net.clone());

    let acl = authenticate::acl(app, ctx).await?;
    let principal = authenticate::principal(who.as_deref());
    let access: Vec<Access> = acl.authorize(&principal, service, &scopes);
    ev.granted = access
        .iter()
        .filter(|a| !a.actions.is_empty())
        .map(Access::scope_string)
        .collect();

    // A refresh token for offline requests of an authenticated user; a refresh grant keeps using
    // the token it presented (no rotation: docker keeps the one it stored at login). Workloads
    // never get one: their identity token is short-lived on purpose, and a refresh token would
    // outlive it. Nor do personal credentials, so revoking one on the sign-in page ends every
    // login made with it (docker keeps using the credential). Both have no `credential` to bind
    // a refresh token to, and only a bound refresh token is ever minted.
    let wants_refresh =
        treq.offline && matches!(treq.grant, Grant::Header | Grant::Password { .. });
    let refresh_token = match (&who, wants_refresh) {
        (Some(a), true) if a.credential.is_some() => {
            let secret = random_bytes::<32, S, F>(ctx)?;
            // Out of line: only offline requests (a login) run it.
            let rt = out_of_line(authenticate::mint_refresh(
                app,
                ctx,
                a,
                service,
                treq.client_id.as_deref(),
                &secret,
            ))
            .await?;
            ev.refresh_token_issued = true;
            Some(rt)
        }
        _ => None,
    };

    let jti = new_jti(ctx)?;
    let ttl = app.settings.token_ttl;
    let claims = RegistryClaims {
        iss: app.settings.issuer.clone(),
        sub: who.as_ref().map(|a| a.account.clone()).unwrap_or_default(),
        aud: service.to_string(),
        exp: now.saturating_add(ttl),
        nbf: now,
        iat: now,
        jti,
        access,
        net,
    };
    let token = app.keys.sign(service, &claims)?;
    // The claims are spent: their jti goes to the audit line and their access to the response.
    ev.jti = Some(claims.jti);

    let issued = Issued {
        token,
        expires_in: ttl,
        issued_at: now,
        refresh_token,
        access: claims.access,
    };
    Ok(response::token_answer(flavor, &issued))
}

/// Refusals and failures, out of line: a new isolate's first request is usually granted, and
/// V8 compiles a wasm function whole on its first call, so the code that words a refusal stays
/// out of the functions a granted request runs. `#[inline(never)]` keeps LLVM from inlining
/// these, and scripts/build.sh's `--no-inline=*::cold::*` keeps binaryen from inlining them
/// back into their single caller.
mod cold {
    use super::*;

    /// The answer and audit line of a refused or failed request.
    #[cold]
    #[inline(never)]
    pub(super) fn refused(
        app: &TokenService,
        flavor: Flavor,
        e: TokenError,
        mut ev: AuditEvent,
    ) -> (HttpResponse, AuditEvent) {
        ev.record_refusal(&e);
        ev.granted.clear();
        ev.jti = None;
        ev.refresh_token_issued = false;
        (e.to_response(flavor, app.realm()), ev)
    }

    /// A refusal's error, its message formatted here rather than in the caller.
    #[cold]
    #[inline(never)]
    pub(super) fn refusal(kind: ErrorKind, message: std::fmt::Arguments<'_>) -> TokenError {
        TokenError::new(kind, std::fmt::format(message))
    }

    #[cold]
    #[inline(never)]
    pub(super) fn unknown_service(name: &str, services: &[String]) -> TokenError {
        let shown: String = name.chars().take(64).collect();
        refusal(
            ErrorKind::InvalidRequest,
            format_args!(
                "service '{shown}' is not served here; valid services: {}",
                services.join(", ")
            ),
        )
    }

    /// A failed authentication as the token endpoint's error. A genuine
    /// credential used off its network is named in the audit line, so `tollgate audit credential`
    /// shows where a bound key was tried (issue 16).
    #[cold]
    #[inline(never)]
    pub(super) fn auth_refusal(
        e: AuthError,
        kind: ErrorKind,
        bearer: bool,
        ev: &mut AuditEvent,
    ) -> TokenError {
        if let AuthError::Network {
            account,
            via,
            key_name,
            ..
        } = &e
        {
            ev.account = Some(account.clone());
            ev.credential = Some(*via);
            ev.credential_name = key_name.clone();
        }
        let e = e.into_token_error(kind);
        if bearer && e.kind == kind {
            e.with_bearer_challenge()
        } else {
            e
        }
    }
}
