//! The pull ledger (issue 16): one structured JSON line per proxied request, for `wrangler tail`,
//! Logpush and `tollgate audit`.
//!
//! Who (account, credential kind, the token's `jti`, which links the line to the token audit line
//! that says which credential the token came from), what (method, repository, tag or digest),
//! the answer (status, bytes, edge cache), and from where (client address, and country, ASN and
//! colo from `request.cf`). Never a secret: the type has no field that could hold a password, key
//! or token, and the `jti` is read from a token's payload, not the token.
//!
//! The line keeps the fields the proxy logged before (`event: "proxy"`, `outcome`, `reason`,
//! `principal`, `verify_cached`, `method`, `path`, `status`), so existing log queries still work.

use crate::proxy::route::{classify, ChartLayout, Endpoint};
use base64ct::{Base64UrlUnpadded, Encoding as _};
use serde::{Deserialize, Serialize};

/// Bytes kept of client-supplied free text and paths.
const MAX_TEXT: usize = 256;

/// One proxied request. Also what `tollgate audit` reads back (unknown fields ignored, so
/// older and newer lines both parse).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerLine {
    /// Always `"proxy"`.
    pub event: String,
    /// Unix seconds.
    pub time: u64,
    /// forwarded, refused, filtered_catalog.
    pub outcome: String,
    /// Refusal code (`insufficient_scope`, `net_network`, `expired`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub status: u16,
    pub method: String,
    pub path: String,
    /// The account or token subject let through (`""`: an anonymous token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// token or basic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
    /// The bearer token's `jti` (joins the token audit line: which credential, which grant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_cached: Option<bool>,
    /// Repository (or chart namespace) the path addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// Tag or digest (manifests), digest (blobs, referrers), file (charts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Response body bytes as declared by Content-Length (absent when streamed without one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// Edge cache: hit, miss (cacheable, stored or not), bypass (not cacheable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asn: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub colo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

/// What the edge cache did for a forwarded request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeCache {
    /// Not cacheable (not immutable content, a Range request, ...).
    Bypass,
    /// Cacheable, not in the cache: fetched from the origin (and stored if small enough).
    Miss,
    /// Answered from the edge cache.
    Hit,
}

impl EdgeCache {
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeCache::Bypass => "bypass",
            EdgeCache::Miss => "miss",
            EdgeCache::Hit => "hit",
        }
    }
}

/// Client text, bounded and without control characters.
pub fn bounded(value: Option<&str>) -> Option<String> {
    crate::token_service::AuditEvent::bounded(value).map(|mut s| {
        s.truncate(MAX_TEXT);
        s
    })
}

impl LedgerLine {
    /// A line for `method path`, with repository and reference from the path (when it names them).
    pub fn new(time: u64, method: &str, path: &str, chart: &ChartLayout) -> Self {
        let (repository, reference) = match classify(path, chart) {
            Ok(e) => target(e),
            Err(_) => (None, None),
        };
        LedgerLine {
            event: "proxy".into(),
            time,
            method: bounded(Some(method)).unwrap_or_default(),
            path: bounded(Some(path)).unwrap_or_default(),
            repository,
            reference,
            ..Self::default()
        }
    }

    /// Who was let through or refused: `credential` is `token` or `basic`; `authorization` the
    /// header value, from which only a bearer token's `jti` is taken.
    pub fn with_credential(mut self, authorization: Option<&str>) -> Self {
        let Some(value) = authorization else {
            return self;
        };
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        if scheme.eq_ignore_ascii_case("bearer") {
            self.credential = Some("token".into());
            self.jti = token_jti(rest.trim());
        } else if scheme.eq_ignore_ascii_case("basic") {
            self.credential = Some("basic".into());
        }
        self
    }

    /// One line of JSON.
    pub fn to_json_line(&self) -> String {
        crate::json_bytes::to_string(self).unwrap_or_else(|_| r#"{"event":"proxy"}"#.to_string())
    }
}

/// Repository and reference an endpoint addresses.
fn target(e: Endpoint) -> (Option<String>, Option<String>) {
    match e {
        Endpoint::Base | Endpoint::Catalog => (None, None),
        Endpoint::Tags { name }
        | Endpoint::UploadStart { name }
        | Endpoint::Upload { name, .. } => (Some(name), None),
        Endpoint::Manifest { name, reference } => (Some(name), Some(reference)),
        Endpoint::Blob { name, digest } | Endpoint::Referrers { name, digest } => {
            (Some(name), Some(digest))
        }
        Endpoint::ChartIndex { namespace } | Endpoint::ChartApi { namespace } => {
            (Some(namespace), None)
        }
        Endpoint::ChartFile { namespace, file } => (Some(namespace), Some(file)),
    }
}

/// The `jti` of a JWT's payload, bounded; `None` for anything else. Only an identifier for the
/// log: the gate has already verified (or refused) the token, nothing is decided on it.
pub(crate) fn token_jti(token: &str) -> Option<String> {
    if token.len() > crate::limits::MAX_TOKEN_LEN {
        return None;
    }
    let payload = token.split('.').nth(1)?;
    let bytes = Base64UrlUnpadded::decode_vec(payload).ok()?;
    #[derive(Deserialize)]
    struct Jti {
        jti: Option<String>,
    }
    let jti = crate::json_object::from_slice::<Jti>(&bytes).ok()?.jti?;
    (jti.len() <= 64
        && jti
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    .then_some(jti)
}

#[cfg(test)]
mod tests {
    use super::*;
    // Encoded with the base64 crate: an implementation independent of the code's base64ct.
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;

    const D: &str = "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";

    #[test]
    fn names_repository_and_reference_and_never_the_secret() {
        let claims = URL_SAFE_NO_PAD.encode(br#"{"sub":"bob","jti":"abc123"}"#);
        let token = format!("eyJhbGciOiJFUzI1NiJ9.{claims}.c2ln");
        let line = LedgerLine::new(
            5,
            "GET",
            &format!("/v2/org/app/blobs/{D}"),
            &ChartLayout::default(),
        )
        .with_credential(Some(&format!("Bearer {token}")));
        assert_eq!(line.repository.as_deref(), Some("org/app"));
        assert_eq!(line.reference.as_deref(), Some(D));
        assert_eq!(line.jti.as_deref(), Some("abc123"));
        assert_eq!(line.credential.as_deref(), Some("token"));
        let json = line.to_json_line();
        assert!(!json.contains(&token) && !json.contains("c2ln"), "{json}");
        let back: LedgerLine = serde_json::from_str(&json).unwrap();
        assert_eq!(back, line);

        let basic = LedgerLine::new(
            5,
            "GET",
            "/v2/org/app/manifests/v1",
            &ChartLayout::default(),
        )
        .with_credential(Some("Basic Ym9iOnNlY3JldA=="));
        assert_eq!(basic.credential.as_deref(), Some("basic"));
        assert!(!basic.to_json_line().contains("Ym9i"));
        assert_eq!(basic.reference.as_deref(), Some("v1"));
    }

    #[test]
    fn hostile_input_stays_bounded() {
        let path = format!("/v2/{}\n/x", "a".repeat(5000));
        let line = LedgerLine::new(1, "GET", &path, &ChartLayout::default())
            .with_credential(Some("Bearer x.!!!.y"));
        assert!(line.path.len() <= MAX_TEXT && !line.path.contains('\n'));
        assert!(line.repository.is_none() && line.jti.is_none());
        let evil = URL_SAFE_NO_PAD.encode(br#"{"jti":"a\"b"}"#);
        assert_eq!(token_jti(&format!("h.{evil}.s")), None);
    }
}
