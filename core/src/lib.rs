//! Tollgate's protocol and policy core.
//!
//! Plain Rust with no I/O of its own: the Cloudflare Worker (`src/` at the repository root) and the
//! operator CLI (`cli/`) are thin shells that pass in requests, stored records, the time and random
//! bytes, and turn the results back into HTTP. Everything here is tested natively with `cargo test`.

// core/clippy.toml routes every JSON read through `json_object`; tests read their fixtures freely.
#![cfg_attr(test, allow(clippy::disallowed_methods))]

pub mod config;
pub mod credentials;
pub mod federation;
pub mod json_bytes;
mod json_object;
pub mod ledger;
pub mod limits;
pub mod netbind;
pub mod out_of_line;
pub mod policy;
pub mod protocol;
pub mod proxy;
pub mod reference;
pub mod scope;
pub mod signin;
pub mod store;
mod time_claims;
pub mod token;
pub mod token_service;
pub mod ttl_cache;
mod unique_keys;
pub mod validate;

#[cfg(test)]
mod round_trips;
#[cfg(test)]
mod test_support;
