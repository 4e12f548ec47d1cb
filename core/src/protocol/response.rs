//! Successful token responses.
//!
//! Distribution (GET /token): `{token, access_token, expires_in, issued_at, refresh_token?}`;
//! both `token` and `access_token` carry the JWT because older clients read one and newer the
//! other. OAuth2 (POST): `{access_token, token_type, scope, expires_in, issued_at, refresh_token?}`
//! with `scope` the granted scopes, space-separated (RFC 6749 5.1). `issued_at` is RFC 3339 UTC.

use crate::token::Access;
use serde::Serialize;

/// What the service issued, independent of the dialect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Issued {
    /// The signed JWT.
    pub token: String,
    /// Lifetime in seconds.
    pub expires_in: u64,
    /// Unix seconds of issuance (`iat`).
    pub issued_at: u64,
    /// A new refresh token, when the client asked for offline access.
    pub refresh_token: Option<String>,
    /// The granted access (also in the JWT).
    pub access: Vec<Access>,
}

/// Unix seconds as RFC 3339 UTC (`2026-11-28T08:00:00Z`). Out-of-range times (beyond year
/// 262143) cannot come from a real clock; they render as the epoch rather than panic.
pub(crate) fn rfc3339(unix_seconds: u64) -> String {
    i64::try_from(unix_seconds)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The granted access as scope strings (`type:name:actions`), space-separated; entries with no
/// granted action are left out.
pub(crate) fn granted_scope(access: &[Access]) -> String {
    access
        .iter()
        .filter(|a| !a.actions.is_empty())
        .map(|a| format!("{}:{}:{}", a.resource_type, a.name, a.actions.join(",")))
        .collect::<Vec<_>>()
        .join(" ")
}

// The bodies are typed and borrow the token rather than building a `serde_json::Value`: that
// copied the JWT (twice for distribution's `token` + `access_token`) into a map on every token.

/// The distribution token spec's body.
#[derive(Debug, Serialize)]
pub(crate) struct DistributionBody<'a> {
    token: &'a str,
    access_token: &'a str,
    expires_in: u64,
    issued_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
}

/// The OAuth2 body (distribution oauth.md, RFC 6749 5.1).
#[derive(Debug, Serialize)]
pub(crate) struct OAuth2Body<'a> {
    access_token: &'a str,
    token_type: &'static str,
    scope: String,
    expires_in: u64,
    issued_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
}

/// The distribution token spec's body.
pub(crate) fn distribution_body(issued: &Issued) -> DistributionBody<'_> {
    DistributionBody {
        token: &issued.token,
        access_token: &issued.token,
        expires_in: issued.expires_in,
        issued_at: rfc3339(issued.issued_at),
        refresh_token: issued.refresh_token.as_deref(),
    }
}

/// The OAuth2 body (distribution oauth.md, RFC 6749 5.1).
pub(crate) fn oauth2_body(issued: &Issued) -> OAuth2Body<'_> {
    OAuth2Body {
        access_token: &issued.token,
        token_type: "Bearer",
        scope: granted_scope(&issued.access),
        expires_in: issued.expires_in,
        issued_at: rfc3339(issued.issued_at),
        refresh_token: issued.refresh_token.as_deref(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn value(body: impl Serialize) -> Value {
        serde_json::to_value(body).unwrap()
    }

    fn issued(refresh: Option<&str>) -> Issued {
        Issued {
            token: "h.p.s".into(),
            expires_in: 300,
            issued_at: 1_764_316_800,
            refresh_token: refresh.map(String::from),
            access: vec![
                Access {
                    resource_type: "repository".into(),
                    name: "a/b".into(),
                    actions: vec!["pull".into(), "push".into()],
                },
                Access {
                    resource_type: "repository".into(),
                    name: "c".into(),
                    actions: vec![],
                },
            ],
        }
    }

    #[test]
    fn rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_764_316_800), "2025-11-28T08:00:00Z");
        assert_eq!(rfc3339(u64::MAX), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn distribution_shape() {
        let v = value(distribution_body(&issued(None)));
        assert_eq!(v["token"], "h.p.s");
        assert_eq!(v["access_token"], "h.p.s");
        assert_eq!(v["expires_in"], 300);
        assert_eq!(v["issued_at"], "2025-11-28T08:00:00Z");
        assert!(v.get("refresh_token").is_none());
        assert_eq!(
            value(distribution_body(&issued(Some("tgr_x"))))["refresh_token"],
            "tgr_x"
        );
    }

    #[test]
    fn oauth2_shape() {
        let v = value(oauth2_body(&issued(Some("tgr_x"))));
        assert_eq!(v["access_token"], "h.p.s");
        assert_eq!(v["token_type"], "Bearer");
        assert_eq!(v["scope"], "repository:a/b:pull,push");
        assert_eq!(v["refresh_token"], "tgr_x");
        assert!(v.get("token").is_none());
        assert!(value(oauth2_body(&issued(None)))
            .get("refresh_token")
            .is_none());
    }
}
