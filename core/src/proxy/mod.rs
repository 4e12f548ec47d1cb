//! The verify-and-forward proxy's decisions, free of I/O: which access a request needs
//! ([`route`]), whether what was granted covers it and how to refuse ([`authorize`]), which
//! headers cross the proxy in each direction ([`headers`]) and its settings ([`config`]). The
//! worker's `src/proxy.rs` does the fetching.

pub(crate) mod authority;
pub mod authorize;
pub(crate) mod cache;
pub mod catalog;
pub(crate) mod config;
pub(crate) mod gate;
pub mod headers;
pub(crate) mod netbound;
pub mod route;

pub use authority::TokenServiceAuthority;
pub use authorize::{check_access, Insufficient, Refusal, UpstreamFailure};
pub use config::ProxySettings;
pub use gate::{Admitted, Authority, BasicGrant, Decision, Gate, RequestMeta};
pub use headers::PublicHost;
pub use route::{
    cacheable, classify, required_access, ChartLayout, Endpoint, Required, RouteError,
};
