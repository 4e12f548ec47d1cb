//! The token endpoints' wire protocols: what clients send (GET query, OAuth2 form, ChartMuseum's
//! client_credentials), what we answer (distribution and OAuth2 token JSON), how we refuse
//! (distribution `errors` bodies, OAuth2 `error` bodies) and the `WWW-Authenticate` challenges.
//! Pure functions over strings and bytes; the service decides, this module speaks.

pub(crate) mod challenge;
pub(crate) mod errors;
pub(crate) mod http;
pub mod request;
pub(crate) mod response;

pub use errors::{ErrorKind, TokenError};
pub use http::{HeaderText, HttpRequest, HttpResponse};
pub use request::{Grant, TokenRequest};

/// The dialect of a token endpoint, which fixes the shape of both answers and refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Distribution's token spec (GET /token): `{token, access_token, ...}` and `{"errors": [...]}`.
    Distribution,
    /// OAuth2 (POST /token, /oauth/token): `{access_token, scope, ...}` and `{"error": ...}`.
    OAuth2,
}
