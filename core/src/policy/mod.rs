//! The ACL: ordered rules, first match wins (docker_auth's semantics, which operators know).
//! `explain` and `authorize` share one evaluation, so the CLI's `explain` can never disagree with
//! what the worker grants.

mod acl;
pub mod check;
mod glob;
mod principal;
mod rule;

pub use acl::{Acl, PolicyError, ScopeDecision};
pub use glob::{glob_match, has_glob_meta};
pub use principal::Principal;
pub use rule::{Match, Rule};
