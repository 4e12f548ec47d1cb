//! The verify-and-forward proxy's decisions, free of I/O: which access a request needs
//! ([`route`]), whether what was granted covers it and how to refuse ([`authorize`]), which
//! headers cross the proxy in each direction ([`headers`]) and its settings ([`config`]). The
//! worker's `src/proxy.rs` does the fetching.

pub mod app;
pub mod authorize;
pub mod cache;
pub mod config;
pub mod gate;
pub mod headers;
pub mod route;

pub use app::AppAuthority;
pub use authorize::{check_access, Insufficient, Refusal, UpstreamFailure};
pub use cache::{VerifiedToken, VerifyCache};
pub use config::ProxySettings;
pub use gate::{Authority, BasicGrant, Decision, Gate, Principal, RequestMeta};
pub use headers::PublicHost;
pub use route::{
    cacheable, classify, required_access, ChartLayout, Endpoint, Required, RouteError,
};
