//! The token flow (placeholder).
use super::{App, AuditEvent, Rng};
use crate::protocol::{ErrorKind, Flavor, HttpRequest, HttpResponse, TokenError};
use crate::store::Store;

pub(super) async fn token(
    app: &App,
    _req: &HttpRequest,
    flavor: Flavor,
    _store: &impl Store,
    now: u64,
    _rng: Rng<'_>,
) -> (HttpResponse, AuditEvent) {
    let e = TokenError::new(ErrorKind::ServerError, "not implemented yet");
    (
        e.to_response(flavor, app.realm()),
        AuditEvent::new(now, "header"),
    )
}
