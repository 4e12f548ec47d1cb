//! The token service as the proxy's [`Authority`]: the same verifier, credential check and ACL
//! the token endpoint uses, so the two can never disagree about who may do what.

use super::cache::VerifiedToken;
use super::gate::{Authority, BasicGrant};
use crate::federation::Fetch;
use crate::store::Store;
use crate::token::Access;
use crate::token_service::{AuthError, Rejected, RequestContext, TokenService};

/// Borrows the isolate's [`TokenService`] for one proxied request.
pub struct TokenServiceAuthority<'a> {
    app: &'a TokenService,
}

impl<'a> TokenServiceAuthority<'a> {
    pub fn new(app: &'a TokenService) -> Self {
        Self { app }
    }
}

impl Authority for TokenServiceAuthority<'_> {
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
