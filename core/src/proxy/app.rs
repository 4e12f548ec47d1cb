//! The token service as the proxy's [`Authority`]: the same verifier, credential check and ACL
//! the token endpoint uses, so the two can never disagree.

use super::cache::VerifiedToken;
use super::gate::{Authority, BasicGrant, BasicRejected, TokenRejected};
use crate::service::App;
use crate::store::Store;
use crate::token::Access;

/// Borrows the isolate's [`App`] for one proxied request.
pub struct AppAuthority<'a> {
    app: &'a App,
}

impl<'a> AppAuthority<'a> {
    pub fn new(app: &'a App) -> Self {
        Self { app }
    }
}

impl Authority for AppAuthority<'_> {
    fn verify_token(
        &self,
        _token: &str,
        _audience: &str,
        _now: u64,
    ) -> Result<VerifiedToken, TokenRejected> {
        // Fail closed until the token service exposes its verifier.
        let _ = self.app;
        Err(TokenRejected("verifier_unavailable"))
    }

    async fn grant_basic(
        &self,
        _authorization: &str,
        _service: &str,
        _requested: &[Access],
        _store: &impl Store,
        _now: u64,
    ) -> Result<BasicGrant, BasicRejected> {
        Err(BasicRejected::Unavailable(
            "the token service's credential check is not wired yet".into(),
        ))
    }
}
