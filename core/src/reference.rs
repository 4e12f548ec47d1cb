//! Repository names per distribution's reference grammar (distribution/reference, regexp.go):
//!
//! ```text
//! name            := [domain '/'] path-component ['/' path-component]*
//! domain          := domain-component ['.' domain-component]* [':' port-number]
//! domain-component:= /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
//! path-component  := alpha-numeric [separator alpha-numeric]*
//! alpha-numeric   := /[a-z0-9]+/
//! separator       := /[_.]|__|[-]+/
//! ```
//! Hand-written rather than a regex engine: the worker's wasm size matters and the grammar is small.

use crate::limits::MAX_REPOSITORY_NAME_LEN;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReferenceError {
    Empty,
    TooLong(usize),
    BadComponent(String),
    BadDomain(String),
}

impl fmt::Display for ReferenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("repository name is empty"),
            Self::TooLong(n) => {
                write!(f, "repository name is {n} bytes long; at most {MAX_REPOSITORY_NAME_LEN} are allowed")
            }
            Self::BadComponent(c) => write!(
                f,
                "repository name component '{}' is invalid: use lowercase letters and digits, separated by '.', '_', '__' or '-'",
                crate::scope::printable(c)
            ),
            Self::BadDomain(d) => write!(
                f,
                "registry host '{}' is invalid: use letters, digits, '-' and '.', optionally ':port'",
                crate::scope::printable(d)
            ),
        }
    }
}

impl std::error::Error for ReferenceError {}

/// A path component: `[a-z0-9]+` runs joined by `.`, `_`, `__` or one or more `-`.
pub(crate) fn is_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator run starts here; it must be '.', '_', '__' or '-'+ and be followed by alnum.
        let start = i;
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
        if i == start || i >= b.len() || !alnum(b[i]) {
            return false;
        }
    }
    true
}

fn is_domain_component(c: &str) -> bool {
    let b = c.as_bytes();
    !b.is_empty()
        && b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// `host[:port]` or `[ipv6][:port]`.
fn is_domain(d: &str) -> bool {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else {
            return false;
        };
        if inside.is_empty() || !inside.bytes().all(|x| x.is_ascii_hexdigit() || x == b':') {
            return false;
        }
        match after {
            "" => return true,
            p => match p.strip_prefix(':') {
                Some(p) => ("", Some(p)),
                None => return false,
            },
        }
    } else {
        match d.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|x| x.is_ascii_digit()) {
            return false;
        }
    }
    host.is_empty() && port.is_some() && d.starts_with('[')
        || host.split('.').all(is_domain_component)
}

/// Whether the first component is a registry host: it has a '.' or ':' or is `localhost`, or has
/// upper case (distribution's rule for telling `host/...` from `namespace/...`).
fn looks_like_domain(first: &str) -> bool {
    first.contains('.')
        || first.contains(':')
        || first == "localhost"
        || first.bytes().any(|b| b.is_ascii_uppercase())
}

/// Validates a repository name such as `org/team/app` or `localhost:5000/org/app`.
///
/// distribution's anchored name regexp makes the domain optional, so a first component that
/// looks like a host but is not one (`0.g_g` in `0.g_g/a`) is still valid as a path component;
/// the proxy's route grammar accepts such names, and refusing them here would leave clients
/// unable to get a token for a request the proxy lets through (found by fuzz/proxy_route).
pub(crate) fn validate_repository_name(name: &str) -> Result<(), ReferenceError> {
    if name.is_empty() {
        return Err(ReferenceError::Empty);
    }
    if name.len() > MAX_REPOSITORY_NAME_LEN {
        return Err(ReferenceError::TooLong(name.len()));
    }
    let mut parts = name.split('/');
    let first = parts.next().unwrap_or_default();
    let rest: Vec<&str> = parts.collect();
    let domain_ok = !rest.is_empty() && looks_like_domain(first) && is_domain(first);
    if !domain_ok && !is_path_component(first) {
        return Err(if !rest.is_empty() && looks_like_domain(first) {
            ReferenceError::BadDomain(first.to_string())
        } else {
            ReferenceError::BadComponent(first.to_string())
        });
    }
    for c in rest {
        if !is_path_component(c) {
            return Err(ReferenceError::BadComponent(c.to_string()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_names() {
        for n in [
            "app",
            "org/app",
            "org/team/app",
            "a.b_c__d-e---f",
            "localhost/app",
            "localhost:5000/org/app",
            "registry.example.com/org/app",
            "127.0.0.1:5000/x",
            "[::1]:5000/x",
            "library/ubuntu",
            "0/1",
        ] {
            assert_eq!(validate_repository_name(n), Ok(()), "{n}");
        }
    }

    #[test]
    fn refuses_invalid_names() {
        for n in [
            "",
            "org//app",
            "/app",
            "app/",
            "org/app/",
            "-app",
            "app-",
            "a..b",
            "a___b",
            "a_.b",
            "../etc",
            "org/../x",
            "a b",
            "a%2fb",
            "ümlaut",
            "org/App",
            "host:/x",
            "host:99999x/x",
            "[zz]:1/x",
        ] {
            assert!(
                validate_repository_name(n).is_err(),
                "{n:?} should be refused"
            );
        }
    }

    /// Regression (fuzz/regressions/proxy_route/name-with-dot-and-underscore): a first component
    /// with '.' that is no valid host is still a valid path component, as in distribution.
    #[test]
    fn host_like_path_component_is_a_path_component() {
        for n in ["0.g_g/a", "my.chart__x/app", "a.b_c/d/e"] {
            assert_eq!(validate_repository_name(n), Ok(()), "{n}");
        }
        // Neither a host nor a path component: the message names the host grammar.
        assert!(matches!(
            validate_repository_name("Bad_Host.example/app"),
            Err(ReferenceError::BadDomain(_))
        ));
        assert!(matches!(
            validate_repository_name("a..b/app"),
            Err(ReferenceError::BadDomain(_))
        ));
    }

    #[test]
    fn length_is_bounded() {
        let ok = "a".repeat(255);
        assert!(validate_repository_name(&ok).is_ok());
        let long = "a".repeat(256);
        assert_eq!(
            validate_repository_name(&long),
            Err(ReferenceError::TooLong(256))
        );
    }

    #[test]
    fn error_message_is_actionable() {
        let e = validate_repository_name("org/Bad").unwrap_err().to_string();
        assert!(e.contains("'Bad'") && e.contains("lowercase"), "{e}");
    }
}
