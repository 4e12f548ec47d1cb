//! Signing and published keys, parsed once per isolate (placeholder until token/ lands).
use crate::config::{ConfigError, Settings};

pub(super) struct Keys {
    pub jwks_json: Vec<u8>,
    pub certs_pem: String,
}

impl Keys {
    pub fn load(_settings: &Settings) -> Result<Keys, ConfigError> {
        Ok(Keys {
            jwks_json: b"{\"keys\":[]}".to_vec(),
            certs_pem: String::new(),
        })
    }
}
