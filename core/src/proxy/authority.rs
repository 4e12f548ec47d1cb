//! The token service as the proxy's [`Authority`]: the same verifier, credential check and ACL
//! the token endpoint uses, so the two can never disagree about who may do what.

use super::cache::VerifiedToken;
use super::gate::{Authority, BasicGrant};
use crate::federation::Fetch;
use crate::store::Store;
use crate::token::Access;
use crate::token_service::{App, AuthError, Rejected, RequestContext};

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
        token: &str,
        audience: &str,
        now: u64,
    ) -> Result<VerifiedToken, Rejected> {
        let claims = self.app.verify_token(token, audience, now)?;
        Ok(VerifiedToken {
            subject: claims.sub,
            access: claims.access,
            exp: claims.exp,
            net: claims.net,
        })
    }

    async fn grant_basic<S: Store, F: Fetch>(
        &self,
        authorization: &str,
        service: &str,
        requested: &[Access],
        ctx: &RequestContext<'_, S, F>,
    ) -> Result<BasicGrant, AuthError> {
        let (account, access) = self
            .app
            .grant_basic(authorization, service, requested, ctx)
            .await?;
        Ok(BasicGrant { account, access })
    }
}

#[cfg(test)]
mod tests;
