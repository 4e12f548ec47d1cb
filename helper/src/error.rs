//! The helper's one error type. Each variant renders as ONE line, because that line is all a person
//! sees: docker prints a helper's stdout after `error getting credentials - err: exit status 1, out:`,
//! and `tollgate login` prints it after `error:`. Secrets never appear in a message.

use std::fmt;

/// What went wrong, in the words shown to the person.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// No usable credential, and none may be obtained here (no terminal, or
    /// `TOLLGATE_INTERACTIVE=never`). Rendered as the protocol's own sentence, which docker and
    /// containers/image read as "no credentials: go on anonymously".
    NotFound,
    /// The person pressed Deny on the approval page.
    Denied { host: String },
    /// Nobody approved before the code expired (or Tollgate said `expired_token`).
    Expired { host: String, seconds: u64 },
    /// Tollgate did not answer (connect timeout, refused, TLS, DNS) or answered 5xx.
    Unreachable { url: String, reason: String },
    /// Tollgate answered 404 on `/device/code`: browser sign-in is not configured there.
    SignInDisabled { url: String },
    /// The cached credential was refused by Tollgate (revoked on /account, or expired early).
    Revoked { host: String },
    /// Tollgate for this registry could not be found from its challenge or the configuration.
    Discovery { host: String, reason: String },
    /// Tollgate refused the request for another reason (an OAuth error code and its description).
    Refused { url: String, reason: String },
    /// Tollgate's answer did not follow the device-flow contract.
    BadResponse { url: String, reason: String },
    /// What the caller gave us (stdin, arguments, configuration) is not usable.
    BadInput { reason: String },
    /// `store`: this helper makes its own credentials.
    StoreRefused,
    /// Reading or writing the credential cache or configuration.
    Io { path: String, reason: String },
}

/// The exact sentence of docker/docker-credential-helpers' `ErrCredentialsNotFound`: clients compare it.
pub const NOT_FOUND: &str = "credentials not found in native keychain";

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotFound => f.write_str(NOT_FOUND),
            Error::Denied { host } => write!(
                f,
                "tollgate: the sign-in for {host} was denied in the browser; nothing was stored"
            ),
            Error::Expired { host, seconds } => write!(
                f,
                "tollgate: the sign-in code for {host} expired after {seconds} s without an approval; run the command again for a new code"
            ),
            Error::Unreachable { url, reason } => {
                write!(f, "tollgate: cannot reach Tollgate at {url}: {reason}")
            }
            Error::SignInDisabled { url } => write!(
                f,
                "tollgate: {url} offers no device sign-in (404 on /device/code); ask its operator to enable sign-in (SIGNIN_PROVIDERS)"
            ),
            Error::Revoked { host } => write!(
                f,
                "tollgate: the credential for {host} was revoked or has expired; run `tollgate login {host}` (or the command again in a terminal) to approve a new one"
            ),
            Error::Discovery { host, reason } => write!(
                f,
                "tollgate: cannot find the Tollgate of {host}: {reason} (set it in $XDG_CONFIG_HOME/tollgate/helper.json or TOLLGATE_URL)"
            ),
            Error::Refused { url, reason } => write!(f, "tollgate: {url} refused: {reason}"),
            Error::BadResponse { url, reason } => {
                write!(f, "tollgate: unexpected answer from {url}: {reason}")
            }
            Error::BadInput { reason } => write!(f, "tollgate: {reason}"),
            Error::StoreRefused => f.write_str(
                "tollgate: docker-credential-tollgate makes its own short-lived credentials through a browser approval and stores none it is given; no `docker login` is needed (`tollgate login HOST` signs in ahead of time)",
            ),
            Error::Io { path, reason } => write!(f, "tollgate: {path}: {reason}"),
        }
    }
}

impl std::error::Error for Error {}

impl Error {
    pub(crate) fn io(path: &std::path::Path, err: &std::io::Error) -> Error {
        Error::Io {
            path: path.display().to_string(),
            reason: err.to_string(),
        }
    }
}

/// Text from a server or a file made safe for one terminal line: control characters (escape
/// sequences, newlines) are dropped and the length is bounded, so an answer cannot repaint or
/// spoof the person's terminal.
pub fn printable(text: &str, max_chars: usize) -> String {
    let mut out: String = text
        .chars()
        .filter(|c| !c.is_control())
        .take(max_chars)
        .collect();
    if text.chars().filter(|c| !c.is_control()).count() > max_chars {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_is_one_line() {
        let all = [
            Error::NotFound,
            Error::Denied { host: "r".into() },
            Error::Expired {
                host: "r".into(),
                seconds: 600,
            },
            Error::Unreachable {
                url: "u".into(),
                reason: "x".into(),
            },
            Error::SignInDisabled { url: "u".into() },
            Error::Revoked { host: "r".into() },
            Error::Discovery {
                host: "r".into(),
                reason: "x".into(),
            },
            Error::Refused {
                url: "u".into(),
                reason: "x".into(),
            },
            Error::BadResponse {
                url: "u".into(),
                reason: "x".into(),
            },
            Error::BadInput { reason: "x".into() },
            Error::StoreRefused,
            Error::Io {
                path: "p".into(),
                reason: "x".into(),
            },
        ];
        for e in all {
            let s = e.to_string();
            assert!(!s.contains('\n') && !s.is_empty(), "{s:?}");
        }
        assert_eq!(Error::NotFound.to_string(), NOT_FOUND);
    }

    #[test]
    fn printable_drops_controls_and_bounds() {
        assert_eq!(printable("a\x1b[2Jb\nc", 10), "a[2Jbc");
        assert_eq!(printable("abcdef", 3), "abc…");
    }
}
