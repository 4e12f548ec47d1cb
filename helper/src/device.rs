//! The OAuth 2.0 Device Authorization Grant (RFC 8628) as Tollgate speaks it, without I/O: the
//! requests' forms, reading the answers, and when to poll next.
//!
//! - `POST <base>/device/code` (`client_id`, `service`) -> `device_code`, `user_code`,
//!   `verification_uri[_complete]`, `expires_in`, `interval`.
//! - `POST <base>/token` (`grant_type=urn:ietf:params:oauth:grant-type:device_code`, `device_code`,
//!   `client_id`) -> 400 `authorization_pending` | `slow_down` (add 5 s to the interval) |
//!   `access_denied` | `expired_token`, or 200 with a short-lived personal credential
//!   (`username`, `password`, `password_expires_at`).

use serde::Deserialize;

use crate::discover::{same_origin, Tollgate};
use crate::error::{printable, Error};
use crate::http::Reply;
use crate::secret::Secret;

pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// RFC 8628 3.5: on `slow_down` the interval grows by 5 seconds for this and every later request.
pub const SLOW_DOWN_STEP: u64 = 5;
/// An interval when the server gives none (RFC 8628 3.2's default).
pub const DEFAULT_INTERVAL: u64 = 5;
/// Never wait longer than this for an approval, whatever the server says (bounds every hang).
pub const MAX_EXPIRES_IN: u64 = 1800;
/// Never poll less often than this, whatever the server says. Above Tollgate's own cap (120 s after
/// slow_downs): a client capped below the server's interval would hear slow_down on every poll.
pub const MAX_INTERVAL: u64 = 300;

/// What Tollgate's `/device/code` answered, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub device_code: String,
    pub user_code: String,
    /// Where the person goes; `verification_uri_complete` when given (it carries the code).
    pub open_url: String,
    pub expires_in: u64,
    pub interval: u64,
}

#[derive(Deserialize)]
struct RawAuthorization {
    device_code: String,
    user_code: String,
    verification_uri: String,
    verification_uri_complete: Option<String>,
    expires_in: u64,
    interval: Option<u64>,
}

#[derive(Deserialize)]
struct OAuthError {
    error: String,
    error_description: Option<String>,
}

/// The credential an approval yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub username: String,
    pub password: Secret,
    /// Unix seconds.
    pub expires_at: u64,
    pub service: Option<String>,
}

#[derive(Deserialize)]
struct RawGrant {
    username: String,
    password: String,
    password_expires_at: u64,
    service: Option<String>,
}

/// One answer to a poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll {
    Pending,
    SlowDown,
    Granted(Grant),
}

/// The form of `POST /device/code`.
pub fn code_form<'a>(client_id: &'a str, service: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![("client_id", client_id)];
    if let Some(s) = service {
        form.push(("service", s));
    }
    form
}

/// The form of one poll of `POST /token`.
pub fn poll_form<'a>(client_id: &'a str, device_code: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", GRANT_TYPE),
        ("device_code", device_code),
        ("client_id", client_id),
    ]
}

fn bad(url: &str, reason: impl Into<String>) -> Error {
    Error::BadResponse {
        url: url.to_string(),
        reason: reason.into(),
    }
}

/// A printable token of bounded length: what may be shown to the person or sent back.
fn token_field(url: &str, name: &str, value: &str, max: usize) -> Result<(), Error> {
    if value.is_empty() || value.len() > max || value.chars().any(|c| c.is_control() || c == ' ') {
        return Err(bad(
            url,
            format!("{name} is empty, too long or not printable"),
        ));
    }
    Ok(())
}

/// An OAuth error body as one line: `error: description` (both made printable).
fn oauth_reason(reply: &Reply) -> Option<(String, String)> {
    let e: OAuthError = serde_json::from_slice(&reply.body).ok()?;
    let code = printable(&e.error, 60);
    let desc = e
        .error_description
        .map(|d| printable(&d, 200))
        .unwrap_or_default();
    Some((code, desc))
}

/// A refused answer as one printable line: the OAuth `error: description`, else the status.
pub fn reply_reason(reply: &Reply) -> String {
    match oauth_reason(reply) {
        Some((code, desc)) if desc.is_empty() => code,
        Some((code, desc)) => format!("{code}: {desc}"),
        None => format!("HTTP {}", reply.status),
    }
}

fn refused(url: &str, reply: &Reply) -> Error {
    let reason = reply_reason(reply);
    if reply.status >= 500 {
        Error::Unreachable {
            url: url.to_string(),
            reason,
        }
    } else {
        Error::Refused {
            url: url.to_string(),
            reason,
        }
    }
}

/// Reads `/device/code`'s answer.
pub fn read_authorization(tollgate: &Tollgate, reply: &Reply) -> Result<Authorization, Error> {
    let url = tollgate.url("/device/code");
    match reply.status {
        200 => {}
        404 => {
            return Err(Error::SignInDisabled {
                url: tollgate.base.clone(),
            })
        }
        _ => return Err(refused(&url, reply)),
    }
    let raw: RawAuthorization =
        serde_json::from_slice(&reply.body).map_err(|e| bad(&url, e.to_string()))?;
    token_field(&url, "device_code", &raw.device_code, 512)?;
    token_field(&url, "user_code", &raw.user_code, 32)?;
    let open_url = raw
        .verification_uri_complete
        .clone()
        .unwrap_or_else(|| raw.verification_uri.clone());
    for u in [
        Some(&raw.verification_uri),
        raw.verification_uri_complete.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        token_field(&url, "verification URI", u, 2048)?;
        if !same_origin(&tollgate.base, u) {
            return Err(bad(
                &url,
                format!(
                    "the verification URI {} is not on {}'s origin",
                    printable(u, 200),
                    tollgate.base
                ),
            ));
        }
    }
    if raw.expires_in == 0 {
        return Err(bad(&url, "expires_in is 0"));
    }
    Ok(Authorization {
        device_code: raw.device_code,
        user_code: raw.user_code,
        open_url,
        expires_in: raw.expires_in.min(MAX_EXPIRES_IN),
        interval: raw
            .interval
            .unwrap_or(DEFAULT_INTERVAL)
            .clamp(1, MAX_INTERVAL),
    })
}

/// Reads one answer of `/token` to a poll. `host` and `seconds` name the failure for the person.
pub fn read_poll(
    tollgate: &Tollgate,
    reply: &Reply,
    host: &str,
    expires_in: u64,
    now: u64,
) -> Result<Poll, Error> {
    let url = tollgate.url("/token");
    if reply.status == 200 {
        let raw: RawGrant =
            serde_json::from_slice(&reply.body).map_err(|e| bad(&url, e.to_string()))?;
        token_field(&url, "username", &raw.username, 256)?;
        if raw.username.contains(':') {
            return Err(bad(&url, "the username contains ':'"));
        }
        token_field(&url, "password", &raw.password, 1024)?;
        if raw.password_expires_at <= now {
            return Err(bad(&url, "the credential has already expired"));
        }
        let service = raw.service.filter(|s| !s.is_empty());
        if let Some(s) = &service {
            token_field(&url, "service", s, 256)?;
        }
        return Ok(Poll::Granted(Grant {
            username: raw.username,
            password: raw.password.into(),
            expires_at: raw.password_expires_at,
            service,
        }));
    }
    if reply.status == 400 || reply.status == 401 {
        if let Some((code, _)) = oauth_reason(reply) {
            match code.as_str() {
                "authorization_pending" => return Ok(Poll::Pending),
                "slow_down" => return Ok(Poll::SlowDown),
                "access_denied" => {
                    return Err(Error::Denied {
                        host: host.to_string(),
                    })
                }
                "expired_token" => {
                    return Err(Error::Expired {
                        host: host.to_string(),
                        seconds: expires_in,
                    })
                }
                _ => {}
            }
        }
    }
    Err(refused(&url, reply))
}

/// When to poll, RFC 8628 3.5: every `interval` seconds, 5 more after each `slow_down`, and never
/// past the code's expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub interval: u64,
    /// Unix seconds at which the code expires.
    pub deadline: u64,
}

impl Schedule {
    pub fn new(auth: &Authorization, now: u64) -> Schedule {
        Schedule {
            interval: auth.interval,
            deadline: now.saturating_add(auth.expires_in),
        }
    }

    pub fn slow_down(&mut self) {
        self.interval = (self.interval + SLOW_DOWN_STEP).min(MAX_INTERVAL);
    }

    /// Seconds to wait before the next poll (the interval, or what is left of the code's life, for
    /// one last poll at the deadline), or `None` once the code has expired.
    pub fn wait(&self, now: u64) -> Option<u64> {
        match self.remaining(now) {
            0 => None,
            left => Some(self.interval.min(left)),
        }
    }

    /// Seconds left until the code expires.
    pub fn remaining(&self, now: u64) -> u64 {
        self.deadline.saturating_sub(now)
    }
}

/// The one line a person reads: where to go and which code to expect.
pub fn instruction(host: &str, auth: &Authorization) -> String {
    let minutes = auth.expires_in.div_ceil(60);
    format!(
        "To sign in to {host}, open {} and check the code {} (valid {minutes} min).",
        printable(&auth.open_url, 2048),
        printable(&auth.user_code, 32),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tg() -> Tollgate {
        Tollgate {
            base: "http://127.0.0.1:8787".into(),
            service: Some("registry.local".into()),
        }
    }

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            status,
            body: body.as_bytes().to_vec(),
            www_authenticate: vec![],
        }
    }

    const CODE: &str = r#"{"device_code":"dc-1","user_code":"BCDF-GHJK","verification_uri":"http://127.0.0.1:8787/device",
        "verification_uri_complete":"http://127.0.0.1:8787/device?user_code=BCDF-GHJK","expires_in":600,"interval":5}"#;

    #[test]
    fn reads_a_device_authorization() {
        let a = read_authorization(&tg(), &reply(200, CODE)).unwrap();
        assert_eq!(a.user_code, "BCDF-GHJK");
        assert_eq!(
            a.open_url,
            "http://127.0.0.1:8787/device?user_code=BCDF-GHJK"
        );
        assert_eq!((a.expires_in, a.interval), (600, 5));
        assert_eq!(
            instruction("127.0.0.1:5000", &a),
            "To sign in to 127.0.0.1:5000, open http://127.0.0.1:8787/device?user_code=BCDF-GHJK and check the code BCDF-GHJK (valid 10 min)."
        );
        // Bounds: a server cannot make us wait for ever or poll in a tight loop.
        let long = CODE.replace(
            "\"expires_in\":600,\"interval\":5",
            "\"expires_in\":999999,\"interval\":0",
        );
        let a = read_authorization(&tg(), &reply(200, &long)).unwrap();
        assert_eq!((a.expires_in, a.interval), (MAX_EXPIRES_IN, 1));
        let none = CODE.replace(",\"interval\":5", "");
        assert_eq!(
            read_authorization(&tg(), &reply(200, &none))
                .unwrap()
                .interval,
            DEFAULT_INTERVAL
        );
    }

    #[test]
    fn refuses_a_bad_device_authorization() {
        let e = read_authorization(&tg(), &reply(404, "not found")).unwrap_err();
        assert!(matches!(e, Error::SignInDisabled { .. }), "{e}");
        let e = read_authorization(
            &tg(),
            &reply(
                400,
                r#"{"error":"invalid_client","error_description":"unknown\u001b[2J client"}"#,
            ),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("invalid_client: unknown[2J client") && !e.contains('\x1b'),
            "{e}"
        );
        let e = read_authorization(&tg(), &reply(503, "")).unwrap_err();
        assert!(matches!(e, Error::Unreachable { .. }), "{e}");
        // Another origin, a terminal escape in the code, missing fields, zero lifetime.
        for body in [
            CODE.replace(
                "http://127.0.0.1:8787/device?",
                "https://evil.example/device?",
            ),
            CODE.replace("\"BCDF-GHJK\",", "\"BCDF\\u001b]0;x\","),
            CODE.replace("\"device_code\":\"dc-1\",", ""),
            CODE.replace("600", "0"),
            "[]".to_string(),
        ] {
            let e = read_authorization(&tg(), &reply(200, &body)).unwrap_err();
            assert!(matches!(e, Error::BadResponse { .. }), "{body}: {e}");
        }
    }

    #[test]
    fn reads_poll_answers() {
        let p = |status, body: &str| read_poll(&tg(), &reply(status, body), "r:5000", 600, 1000);
        assert_eq!(
            p(400, r#"{"error":"authorization_pending"}"#).unwrap(),
            Poll::Pending
        );
        assert_eq!(
            p(400, r#"{"error":"slow_down","error_description":"x"}"#).unwrap(),
            Poll::SlowDown
        );
        assert!(matches!(
            p(400, r#"{"error":"access_denied"}"#),
            Err(Error::Denied { .. })
        ));
        assert!(matches!(
            p(400, r#"{"error":"expired_token"}"#),
            Err(Error::Expired { seconds: 600, .. })
        ));
        let e = p(
            400,
            r#"{"error":"invalid_grant","error_description":"unknown device code"}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("invalid_grant: unknown device code"), "{e}");
        assert!(matches!(
            p(502, "bad gateway"),
            Err(Error::Unreachable { .. })
        ));
        let granted = p(
            200,
            r#"{"token_type":"Bearer","access_token":"t","expires_in":300,"username":"sso-alice",
                "password":"tgp_abc","password_expires_at":9000,"service":"registry.local"}"#,
        )
        .unwrap();
        assert_eq!(
            granted,
            Poll::Granted(Grant {
                username: "sso-alice".into(),
                password: "tgp_abc".into(),
                expires_at: 9000,
                service: Some("registry.local".into())
            })
        );
        for body in [
            r#"{"username":"a:b","password":"p","password_expires_at":9000}"#,
            r#"{"username":"a","password":"p\n","password_expires_at":9000}"#,
            r#"{"username":"a","password":"p","password_expires_at":1000}"#,
            r#"{"username":"","password":"p","password_expires_at":9000}"#,
            r#"{"access_token":"t"}"#,
        ] {
            assert!(
                matches!(p(200, body), Err(Error::BadResponse { .. })),
                "{body}"
            );
        }
    }

    #[test]
    fn schedule_honours_interval_slow_down_and_expiry() {
        let a = read_authorization(&tg(), &reply(200, CODE)).unwrap();
        let mut s = Schedule::new(&a, 1000);
        assert_eq!(s.deadline, 1600);
        assert_eq!(s.wait(1000), Some(5));
        s.slow_down();
        assert_eq!(s.wait(1000), Some(10));
        assert_eq!(s.wait(1590), Some(10));
        assert_eq!(s.wait(1597), Some(3));
        assert_eq!(s.wait(1600), None);
        assert_eq!(s.remaining(1700), 0);
        for _ in 0..100 {
            s.slow_down();
        }
        assert_eq!(s.interval, MAX_INTERVAL);
        assert_eq!(
            code_form("c", Some("s")),
            vec![("client_id", "c"), ("service", "s")]
        );
        assert_eq!(poll_form("c", "d")[0], ("grant_type", GRANT_TYPE));
    }
}
