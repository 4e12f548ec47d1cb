//! `POST /oauth/revoke`: token revocation (RFC 7009) for the credentials Tollgate hands to
//! clients, so that signing out ends a credential at Tollgate and not only on the laptop:
//!
//! - a personal credential (`tgp_`: the sign-in page's, and what a credential helper holds after a
//!   device approval): its `personal:` record is deleted and its entry leaves the owner's
//!   `personal-index:` (the list on `/account`);
//! - a refresh token (`tgr_`, docker login's `offline_token`): its `refresh:` record is deleted.
//!
//! Possession is the authority, as RFC 7009 allows for public clients: whoever holds the secret
//! may end it (and could use it anyway). Nothing else is needed, and nothing else is accepted as
//! proof: the secret is looked up by its SHA-256, like every other credential.
//!
//! Answers, as RFC 7009 2.2 says: 200 when the token is gone, including when it was unknown,
//! expired or already revoked (the client's goal is reached either way, and the answer says
//! nothing about which secrets exist); 400 `unsupported_token_type` for an API key (the operator
//! owns those: `tollgate apikey revoke`); 503 when KV fails before the record is gone, so that a
//! client never believes a live credential ended (fail closed). Once it is gone the credential has
//! ended: a failure to update the owner's `/account` list then is said in the audit line only.
//! The isolate that revokes forgets its cached copy at once; other isolates within `CACHE_TTL`,
//! as after a revocation on `/account` (SECURITY.md).

use super::audit::{AuditEvent, Outcome};
use super::credential::{presented_secret, Presented};
use super::{RequestContext, TokenService};
use crate::credentials::RefreshRecord;
use crate::federation::Fetch;
use crate::protocol::request::{check_form_content_type, too_large, RevokeRequest};
use crate::protocol::{ErrorKind, Flavor, HttpRequest, HttpResponse, TokenError};
use crate::signin::credentials as personal;
use crate::store::Store;

/// What a revocation request presented, for the audit line.
const GRANT: &str = "revoke";

pub(super) async fn revoke<S: Store, F: Fetch>(
    app: &TokenService,
    req: &HttpRequest,
    ctx: &RequestContext<'_, S, F>,
) -> (HttpResponse, AuditEvent) {
    let mut ev = AuditEvent::new(ctx.now, GRANT);
    ev.event = "revoke";
    ev.client_ip = AuditEvent::bounded(ctx.client_ip);
    ev.user_agent = AuditEvent::bounded(req.header("user-agent"));
    match end(app, req, ctx, &mut ev).await {
        Ok(()) => {
            ev.outcome = Outcome::Revoked;
            ev.status = 200;
            let resp = HttpResponse::text(200, "application/json", "{}")
                .with_header("cache-control", "no-store");
            (resp, ev)
        }
        Err(e) => {
            ev.record_refusal(&e);
            (e.to_response(Flavor::OAuth2, app.realm()), ev)
        }
    }
}

/// Ends the presented credential; `Ok` also when there was nothing to end.
async fn end<S: Store, F: Fetch>(
    app: &TokenService,
    req: &HttpRequest,
    ctx: &RequestContext<'_, S, F>,
    ev: &mut AuditEvent,
) -> Result<(), TokenError> {
    if req.method != "POST" {
        return Err(TokenError::method_not_allowed(
            &req.method,
            "/oauth/revoke",
            "POST",
        ));
    }
    if req.body_too_large {
        return Err(too_large("request body"));
    }
    check_form_content_type(req.header("content-type"), &req.body)?;
    let form = RevokeRequest::from_form(&req.query, &req.body)?;
    // What the secret is, by the token endpoint's own reading of it (credential.rs).
    match presented_secret(form.token) {
        Some(Presented::ApiKey {
            personal: true,
            digest,
            ..
        }) => {
            ev.credential = Some("personal");
            end_personal(app, ctx, &digest, ev).await
        }
        Some(Presented::RefreshToken { digest, .. }) => {
            ev.credential = Some("refresh_token");
            end_refresh(app, ctx, &digest, ev).await
        }
        Some(Presented::ApiKey { .. }) => {
            ev.credential = Some("api_key");
            Err(TokenError::new(
                ErrorKind::UnsupportedTokenType,
                "API keys are not revoked here: the operator revokes them (tollgate apikey \
                 revoke, or remove the key from the policy file and run tollgate sync)",
            ))
        }
        // Not a credential Tollgate issued (a registry JWT expires on its own in minutes):
        // nothing to end, and RFC 7009 2.2 answers 200 for an invalid token.
        _ => Ok(()),
    }
}

/// A KV failure while revoking: 503, the credential may still be live.
fn unavailable(e: impl std::fmt::Display) -> TokenError {
    TokenError::new(
        ErrorKind::Unavailable,
        format!("the credential store failed ({e}); nothing was revoked: try again"),
    )
}

/// Deletes the record under `key` and returns its text; `None`, with no write, when there is
/// none (an unknown, expired or already-ended credential: nothing to end).
async fn delete_record<S: Store, F: Fetch>(
    ctx: &RequestContext<'_, S, F>,
    key: &str,
) -> Result<Option<String>, TokenError> {
    let Some(text) = ctx.store.get(key).await.map_err(unavailable)? else {
        return Ok(None);
    };
    ctx.store.delete(key).await.map_err(unavailable)?;
    Ok(Some(text))
}

async fn end_personal<S: Store, F: Fetch>(
    app: &TokenService,
    ctx: &RequestContext<'_, S, F>,
    digest: &str,
    ev: &mut AuditEvent,
) -> Result<(), TokenError> {
    let text = delete_record(ctx, &personal::record_key(digest)).await?;
    app.forget_personal(digest);
    // A record that does not parse went too: the secret's holder asked for it to end.
    let Some(r) = text.and_then(|t| personal::parse_record(&t).ok()) else {
        return Ok(());
    };
    ev.account = Some(r.account.clone());
    ev.credential_name = Some(r.name.clone());
    // The owner's list on /account. The record is what authenticates and it is gone, so the
    // credential has ended whatever happens here (answering 503 now would tell the client the
    // opposite); a stale entry grants nothing, it only shows an ended credential on the page, so
    // a failure is said in the audit line.
    if let Err(e) = personal::forget_in_index(ctx.store, &r.account, digest, ctx.now).await {
        ev.reason = Some(format!(
            "the credential ended, but its entry on the owner's /account list stays ({e})"
        ));
    }
    Ok(())
}

async fn end_refresh<S: Store, F: Fetch>(
    app: &TokenService,
    ctx: &RequestContext<'_, S, F>,
    digest: &str,
    ev: &mut AuditEvent,
) -> Result<(), TokenError> {
    let key = super::authenticate::refresh_key(digest);
    let text = delete_record(ctx, &key).await?;
    app.forget_refresh(&key);
    if let Some(r) = text.and_then(|t| RefreshRecord::from_json(&t).ok()) {
        ev.account = Some(r.account);
        ev.service = Some(r.service);
        ev.client_id = r.client_id;
    }
    Ok(())
}
