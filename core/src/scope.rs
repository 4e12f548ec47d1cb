//! Resource scopes (distribution's scope.md): `type[(class)]:name:action[,action]`.
//!
//! The name may itself contain ':' (`repository:localhost:5000/app:pull`), so the type ends at the
//! first ':' and the actions start after the last one. Clients send scopes three ways (repeated
//! `scope=` parameters, one space-separated value, or none); [`parse_scopes`] accepts all of them
//! and merges repeats of the same resource, as docker does when it asks for pull and push apart.

use crate::limits::{MAX_ACTIONS, MAX_SCOPES, MAX_SCOPE_LEN};
use crate::reference::{is_path_component, validate_repository_name};
use std::fmt;

/// One requested (or granted) resource scope. `actions` is sorted and free of duplicates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub resource_type: String,
    pub resource_class: Option<String>,
    pub name: String,
    pub actions: Vec<String>,
}

/// Resource types Tollgate understands.
pub const REPOSITORY: &str = "repository";
pub const REGISTRY: &str = "registry";
/// ChartMuseum's type (chartmuseum/auth): the name is a namespace path such as `org1/repo1`.
pub const ARTIFACT_REPOSITORY: &str = "artifact-repository";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeError {
    TooLong,
    TooMany,
    Malformed(String),
    UnknownType(String),
    BadClass(String),
    BadName { scope: String, reason: String },
    BadAction(String),
    TooManyActions(String),
}

/// Renders untrusted text for an error message: at most 80 characters, control characters escaped.
pub(crate) fn printable(s: &str) -> String {
    let mut out: String = s.chars().take(80).flat_map(char::escape_debug).collect();
    if s.chars().count() > 80 {
        out.push('…');
    }
    out
}

impl fmt::Display for ScopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong => write!(f, "a scope is longer than {MAX_SCOPE_LEN} bytes"),
            Self::TooMany => write!(f, "more than {MAX_SCOPES} scopes were requested at once"),
            Self::Malformed(s) => write!(f, "scope '{}' is not of the form type:name:actions", printable(s)),
            Self::UnknownType(t) => write!(
                f,
                "scope type '{}' is not supported; use {REPOSITORY}, {REGISTRY} or {ARTIFACT_REPOSITORY}",
                printable(t)
            ),
            Self::BadClass(s) => write!(f, "scope '{}' has a malformed resource class", printable(s)),
            Self::BadName { scope, reason } => write!(f, "scope '{}': {reason}", printable(scope)),
            Self::BadAction(s) => write!(
                f,
                "scope '{}' has an invalid action: actions are lowercase words like pull, push, delete, or '*'",
                printable(s)
            ),
            Self::TooManyActions(s) => {
                write!(f, "scope '{}' lists more than {MAX_ACTIONS} actions", printable(s))
            }
        }
    }
}

impl std::error::Error for ScopeError {}

fn valid_action(a: &str) -> bool {
    a == "*" || (!a.is_empty() && a.len() <= 32 && a.bytes().all(|b| b.is_ascii_lowercase()))
}

fn normalize_actions(actions: &mut Vec<String>) {
    actions.sort();
    actions.dedup();
}

impl Scope {
    /// Parses one scope string.
    pub fn parse(s: &str) -> Result<Scope, ScopeError> {
        if s.len() > MAX_SCOPE_LEN {
            return Err(ScopeError::TooLong);
        }
        let (typ, rest) = s
            .split_once(':')
            .ok_or_else(|| ScopeError::Malformed(s.into()))?;
        let (name, actions) = rest
            .rsplit_once(':')
            .ok_or_else(|| ScopeError::Malformed(s.into()))?;
        let (resource_type, resource_class) = match typ.split_once('(') {
            None => (typ, None),
            Some((t, class)) => {
                let class = class
                    .strip_suffix(')')
                    .ok_or_else(|| ScopeError::BadClass(s.into()))?;
                if class.is_empty() || !class.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err(ScopeError::BadClass(s.into()));
                }
                (t, Some(class.to_string()))
            }
        };
        let bad_name = |reason: String| ScopeError::BadName {
            scope: s.into(),
            reason,
        };
        match resource_type {
            REPOSITORY => validate_repository_name(name).map_err(|e| bad_name(e.to_string()))?,
            REGISTRY => {
                if name != "catalog" {
                    return Err(bad_name("the only registry resource is 'catalog'".into()));
                }
            }
            ARTIFACT_REPOSITORY => {
                // ChartMuseum's namespace: empty (depth 0) or path components like org1/repo1.
                if name.len() > crate::limits::MAX_REPOSITORY_NAME_LEN
                    || (!name.is_empty() && !name.split('/').all(is_path_component))
                {
                    return Err(bad_name(
                        "a chart repository namespace is lowercase path components like org1/repo1"
                            .into(),
                    ));
                }
            }
            other => return Err(ScopeError::UnknownType(other.into())),
        }
        let mut list = Vec::new();
        for a in actions.split(',') {
            if !valid_action(a) {
                return Err(ScopeError::BadAction(s.into()));
            }
            list.push(a.to_string());
            if list.len() > MAX_ACTIONS {
                return Err(ScopeError::TooManyActions(s.into()));
            }
        }
        normalize_actions(&mut list);
        Ok(Scope {
            resource_type: resource_type.to_string(),
            resource_class,
            name: name.to_string(),
            actions: list,
        })
    }

    fn same_resource(&self, other: &Scope) -> bool {
        self.resource_type == other.resource_type
            && self.resource_class == other.resource_class
            && self.name == other.name
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.resource_type)?;
        if let Some(c) = &self.resource_class {
            write!(f, "({c})")?;
        }
        write!(f, ":{}:{}", self.name, self.actions.join(","))
    }
}

/// Parses every scope of a request: each value may hold several space-separated scopes; empty
/// values are ignored (a login probe sends none); repeats of one resource are merged.
pub fn parse_scopes<'a>(
    values: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<Scope>, ScopeError> {
    let mut out: Vec<Scope> = Vec::new();
    let mut seen = 0usize;
    for value in values {
        for item in value.split(' ').filter(|s| !s.is_empty()) {
            seen += 1;
            if seen > MAX_SCOPES {
                return Err(ScopeError::TooMany);
            }
            let scope = Scope::parse(item)?;
            match out.iter_mut().find(|s| s.same_resource(&scope)) {
                Some(existing) => {
                    existing.actions.extend(scope.actions);
                    normalize_actions(&mut existing.actions);
                }
                None => out.push(scope),
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_repository_scope() {
        let s = Scope::parse("repository:org/app:push,pull").unwrap();
        assert_eq!(s.resource_type, "repository");
        assert_eq!(s.name, "org/app");
        assert_eq!(s.actions, vec!["pull", "push"]);
        assert_eq!(s.to_string(), "repository:org/app:pull,push");
    }

    #[test]
    fn name_may_carry_host_and_port() {
        let s = Scope::parse("repository:localhost:5000/org/app:pull").unwrap();
        assert_eq!(s.name, "localhost:5000/org/app");
        assert_eq!(s.actions, vec!["pull"]);
    }

    /// Regression (fuzz/regressions/proxy_route/name-with-dot-and-underscore): the proxy demanded
    /// `repository:0.g_g/a:pull,push` for `POST /v2/0.g_g/a/blobs/uploads/`, a scope the token
    /// endpoint refused, so no client could ever be authorized for that repository.
    #[test]
    fn scope_for_host_like_first_component_parses() {
        let s = Scope::parse("repository:0.g_g/a:pull,push").unwrap();
        assert_eq!(s.name, "0.g_g/a");
        assert_eq!(s.to_string(), "repository:0.g_g/a:pull,push");
    }

    #[test]
    fn class_and_catalog_and_chart_types() {
        let s = Scope::parse("repository(plugin):org/app:pull").unwrap();
        assert_eq!(s.resource_class.as_deref(), Some("plugin"));
        assert_eq!(s.to_string(), "repository(plugin):org/app:pull");
        assert_eq!(
            Scope::parse("registry:catalog:*").unwrap().actions,
            vec!["*"]
        );
        let c = Scope::parse("artifact-repository:org1/repo1:pull,push").unwrap();
        assert_eq!(c.name, "org1/repo1");
        assert_eq!(Scope::parse("artifact-repository::pull").unwrap().name, "");
    }

    #[test]
    fn refuses_bad_scopes() {
        for s in [
            "repository",
            "repository:org/app",
            "repository:Org/App:pull",
            "repository:org/app:",
            "repository:org/app:pull,",
            "repository:org/app:PULL",
            "repository:org/../x:pull",
            "registry:other:*",
            "widget:x:pull",
            "repository(:x:pull",
            "repository(a-b):x:pull",
            "artifact-repository:Org:pull",
            "repository:org/app:pull,push,a,b,c,d,e,f,g",
        ] {
            assert!(Scope::parse(s).is_err(), "{s} should be refused");
        }
        assert_eq!(
            Scope::parse(&"x".repeat(MAX_SCOPE_LEN + 1)),
            Err(ScopeError::TooLong)
        );
    }

    #[test]
    fn merges_repeats_and_splits_spaces() {
        let v = parse_scopes([
            "repository:a:pull",
            "repository:b:pull repository:a:push",
            "",
            "repository:a:pull",
        ])
        .unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].to_string(), "repository:a:pull,push");
        assert_eq!(v[1].to_string(), "repository:b:pull");
        assert!(parse_scopes(Vec::<&str>::new()).unwrap().is_empty());
        assert!(parse_scopes(["  "]).unwrap().is_empty());
    }

    #[test]
    fn bounds_the_count() {
        let many = vec!["repository:a:pull"; MAX_SCOPES + 1];
        assert_eq!(parse_scopes(many), Err(ScopeError::TooMany));
    }

    #[test]
    fn error_messages_escape_input() {
        let e = Scope::parse("repository:a\nb:pull")
            .unwrap_err()
            .to_string();
        assert!(!e.contains('\n'), "{e}");
    }
}
