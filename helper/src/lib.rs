//! `docker-credential-tollgate` and `tollgate login`: registry credentials from a browser approval.
//!
//! A registry host's credential comes from its Tollgate through the OAuth 2.0 Device Authorization
//! Grant (RFC 8628): the person opens a URL, signs in with their identity provider and approves a
//! code; the helper gets a short-lived personal credential and caches it (0600) until it expires.
//! Nothing long-lived is typed or stored.
//!
//! Pure logic ([`protocol`], [`discover`], [`device`], the [`cache`] format) is apart from the
//! effects ([`http`], [`terminal`], the cache's files), which [`client`] ties together.

pub mod app;
pub mod cache;
pub mod client;
pub mod device;
pub mod discover;
pub mod error;
pub mod http;
pub mod protocol;
pub mod secret;
pub mod terminal;

pub use error::Error;
