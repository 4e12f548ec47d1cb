//! The proxy's refusal of a network-bound token used from elsewhere (issue 16, core/src/netbind.rs).
//!
//! 403 `DENIED`, not 401: a fresh token would not help (the token endpoint refuses the same
//! credential from the same place), and a 401 would only send the client into a login loop.

use super::authorize::error_response;
use super::gate::Decision;
use crate::netbind::NetRefusal;
use serde_json::Value;

/// The decision for a token whose `net` claim does not admit the caller.
pub(crate) fn refuse(why: &NetRefusal) -> Decision {
    Decision::Refuse {
        response: Box::new(error_response(403, "DENIED", &why.to_string(), Value::Null)),
        reason: why.code(),
    }
}
