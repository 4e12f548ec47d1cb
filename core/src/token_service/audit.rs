//! One structured line per token decision, for `wrangler tail` and Logpush.
//!
//! Holds who asked (account, client id, IP, user agent), for what (service, requested scopes),
//! what was decided (granted access, outcome, reason) and the token's `jti`, so a token seen at a
//! registry can be traced back. Never a password, API key, refresh token or JWT: the type has no
//! field that could hold one, and reasons come from `TokenError` messages, which never do either.

use serde::Serialize;

/// Bytes kept of client-supplied free text (user agent) so a log line stays bounded.
const MAX_FREE_TEXT: usize = 256;

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A token was issued (possibly with fewer actions than asked: see `granted`).
    Issued,
    /// Refused because of the request or the credentials (4xx).
    Refused,
    /// Refused because of our side: storage, a malformed record, signing (5xx). Nothing granted.
    Failed,
    /// A revocation request ended its credential, or found nothing to end (`"event":"revoke"`).
    Revoked,
}

/// The audit record. Serialises to one JSON object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEvent {
    /// `"token"`, or `"revoke"` for `POST /oauth/revoke`: lets log pipelines tell these lines
    /// from others.
    pub event: &'static str,
    pub outcome: Outcome,
    pub status: u16,
    /// Unix seconds.
    pub time: u64,
    /// The grant used: header (GET), password, refresh_token, client_credentials.
    pub grant: &'static str,
    /// The authenticated account ("" anonymous); the claimed one when authentication failed.
    pub account: Option<String>,
    /// How the account was proven: password, api_key, refresh_token, oidc, anonymous.
    pub credential: Option<&'static str>,
    /// The API key's name ("ci"), when an API key was used: `tollgate audit` follows one
    /// credential through its tokens' `jti` into the pull ledger (issue 16).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_name: Option<String>,
    /// The trusted issuer's name, for workloads (set once a token selected one, even if refused).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// The identity token's `jti` (not the token), for workloads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_jti: Option<String>,
    pub service: Option<String>,
    pub client_id: Option<String>,
    /// Scopes as requested (split, not yet merged).
    pub requested: Vec<String>,
    /// Granted access as scope strings.
    pub granted: Vec<String>,
    /// The issued token's `jti`.
    pub jti: Option<String>,
    /// Whether a refresh token was minted (the token itself is never logged).
    pub refresh_token_issued: bool,
    /// Error kind and message when refused or failed.
    pub reason: Option<String>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
}

impl AuditEvent {
    pub(crate) fn new(time: u64, grant: &'static str) -> Self {
        Self {
            event: "token",
            outcome: Outcome::Refused,
            status: 0,
            time,
            grant,
            account: None,
            credential: None,
            credential_name: None,
            issuer: None,
            identity_jti: None,
            service: None,
            client_id: None,
            requested: Vec::new(),
            granted: Vec::new(),
            jti: None,
            refresh_token_issued: false,
            reason: None,
            client_ip: None,
            user_agent: None,
        }
    }

    /// Records client-supplied free text, bounded and without control characters.
    pub(crate) fn bounded(value: Option<&str>) -> Option<String> {
        value.map(|v| {
            let mut out = String::new();
            for c in v.chars().filter(|c| !c.is_control()) {
                if out.len() + c.len_utf8() > MAX_FREE_TEXT {
                    break;
                }
                out.push(c);
            }
            out
        })
    }

    /// Records a refusal or failure: its status, the outcome that implies (5xx: failed) and why.
    pub(crate) fn record_refusal(&mut self, e: &crate::protocol::TokenError) {
        self.status = e.kind.status();
        self.outcome = if self.status >= 500 {
            Outcome::Failed
        } else {
            Outcome::Refused
        };
        self.reason = Some(e.to_string());
    }

    /// One line of JSON: what `#[derive(Serialize)]` writes (a test holds them equal), with the
    /// keys written as they are rather than through serde_json's escaper (`ObjectWriter`), since
    /// every token writes this line.
    pub fn to_json_line(&self) -> String {
        self.write_line()
            .unwrap_or_else(|_| r#"{"event":"token","outcome":"failed"}"#.to_string())
    }

    fn write_line(&self) -> serde_json::Result<String> {
        // Every field named: a field added to the struct is a compile error here until written.
        let AuditEvent {
            event,
            outcome,
            status,
            time,
            grant,
            account,
            credential,
            credential_name,
            issuer,
            identity_jti,
            service,
            client_id,
            requested,
            granted,
            jti,
            refresh_token_issued,
            reason,
            client_ip,
            user_agent,
        } = self;
        let mut o = crate::json_bytes::ObjectWriter::with_capacity(512);
        o.field("event", event)?;
        o.field("outcome", outcome)?;
        o.field("status", status)?;
        o.field("time", time)?;
        o.field("grant", grant)?;
        o.field("account", account)?;
        o.field("credential", credential)?;
        // As `skip_serializing_if = "Option::is_none"` on the struct.
        o.field_if_some("credential_name", credential_name)?;
        o.field_if_some("issuer", issuer)?;
        o.field_if_some("identity_jti", identity_jti)?;
        o.field("service", service)?;
        o.field("client_id", client_id)?;
        o.field("requested", requested)?;
        o.field("granted", granted)?;
        o.field("jti", jti)?;
        o.field("refresh_token_issued", refresh_token_issued)?;
        o.field("reason", reason)?;
        o.field("client_ip", client_ip)?;
        o.field("user_agent", user_agent)?;
        o.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_to_one_line() {
        let mut e = AuditEvent::new(10, "password");
        e.account = Some("alice".into());
        e.requested = vec!["repository:a:pull".into()];
        e.outcome = Outcome::Issued;
        let line = e.to_json_line();
        assert!(!line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["event"], "token");
        assert_eq!(v["outcome"], "issued");
        assert_eq!(v["account"], "alice");
        assert_eq!(v["requested"][0], "repository:a:pull");
    }

    #[test]
    fn the_line_is_what_the_derived_serializer_writes() {
        let mut bare = AuditEvent::new(1, "header");
        bare.status = 401;
        let mut full = AuditEvent::new(1_800_000_000, "password");
        full.outcome = Outcome::Issued;
        full.status = 200;
        full.account = Some("ci-bot".into());
        full.credential = Some("api_key");
        full.credential_name = Some("ci".into());
        full.issuer = Some("gh".into());
        full.identity_jti = Some("j-1".into());
        full.service = Some("registry.local".into());
        full.client_id = Some("docker".into());
        full.requested = vec!["repository:org/app:pull,push".into(), "x".into()];
        full.granted = vec!["repository:org/app:pull".into()];
        full.jti = Some("0f".repeat(16));
        full.refresh_token_issued = true;
        full.reason = Some("invalid_scope: \"quoted\"\u{7}".into());
        full.client_ip = Some("2001:db8::1".into());
        full.user_agent = AuditEvent::bounded(Some("docker/27 \u{e9}\\ go"));
        for e in [bare, full] {
            assert_eq!(e.to_json_line(), serde_json::to_string(&e).unwrap());
        }
    }

    #[test]
    fn free_text_is_bounded_and_clean() {
        let ua = "x".repeat(1000);
        assert_eq!(AuditEvent::bounded(Some(&ua)).unwrap().len(), MAX_FREE_TEXT);
        assert_eq!(AuditEvent::bounded(Some("a\nb")).unwrap(), "ab");
        assert_eq!(AuditEvent::bounded(None), None);
    }
}
