//! The proxy's own settings, read only when `MODE` is `proxy` or `both`.
//!
//! The origin is fixed here, once, at startup: nothing in a request (path, Host header, redirect)
//! can make Tollgate fetch another host, so ORIGIN must be a bare `http(s)://host[:port]`.

use super::route::{ChartLayout, MAX_CHART_DEPTH};
use crate::config::{ConfigError, Settings};
use std::fmt;
use url::Url;

/// Default seconds to wait for the origin's response headers.
pub(crate) const DEFAULT_ORIGIN_TIMEOUT: u64 = 30;
/// Longest accepted ORIGIN_TIMEOUT.
pub(crate) const MAX_ORIGIN_TIMEOUT: u64 = 600;

/// Proxy settings. `Debug` redacts the origin credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxySettings {
    /// `ORIGIN`: the registry or chart repository requests are forwarded to.
    pub origin: Url,
    /// `ORIGIN_AUTH` (secret): the full Authorization value for the origin, if it needs one.
    pub origin_auth: Option<String>,
    /// `ORIGIN_TIMEOUT`: seconds to wait for the origin's response headers.
    pub origin_timeout: u64,
    /// `CHART_DEPTH`: chart namespace depth, as ChartMuseum's `--depth` (default 0).
    pub chart: ChartLayout,
    /// `PROXY_SERVICE`: the `aud` tokens must carry and the service ACLs are evaluated for.
    /// Defaults to the first of SERVICES.
    pub service: String,
    /// `PULL_LEDGER` (`on` default, `off`): one JSON line per proxied request (core/src/ledger.rs).
    pub ledger: bool,
}

impl fmt::Debug for ProxySettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxySettings")
            .field("origin", &self.origin.as_str())
            .field(
                "origin_auth",
                &if self.origin_auth.is_some() {
                    "<set>"
                } else {
                    "<unset>"
                },
            )
            .field("origin_timeout", &self.origin_timeout)
            .field("chart", &self.chart)
            .field("service", &self.service)
            .finish()
    }
}

impl ProxySettings {
    /// Reads the proxy settings through `get` (as [`Settings::from_vars`] does).
    pub fn from_vars(
        get: impl Fn(&str) -> Option<String>,
        settings: &Settings,
    ) -> Result<ProxySettings, ConfigError> {
        let read = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let origin = parse_origin(read("ORIGIN").as_deref())?;
        let origin_auth = match read("ORIGIN_AUTH") {
            None => None,
            Some(v) => Some(parse_origin_auth(v.trim())?),
        };
        let origin_timeout = match read("ORIGIN_TIMEOUT") {
            None => DEFAULT_ORIGIN_TIMEOUT,
            Some(v) => match v.trim().parse::<u64>() {
                Ok(n) if (1..=MAX_ORIGIN_TIMEOUT).contains(&n) => n,
                _ => {
                    return Err(ConfigError::new(
                        "ORIGIN_TIMEOUT",
                        format!("must be whole seconds from 1 to {MAX_ORIGIN_TIMEOUT}"),
                    ))
                }
            },
        };
        let chart = match read("CHART_DEPTH") {
            None => ChartLayout::default(),
            Some(v) => v
                .trim()
                .parse::<usize>()
                .ok()
                .and_then(|d| ChartLayout::new(d).ok())
                .ok_or_else(|| {
                    ConfigError::new(
                        "CHART_DEPTH",
                        format!(
                            "must be a whole number from 0 to {MAX_CHART_DEPTH} (ChartMuseum's --depth)"
                        ),
                    )
                })?,
        };
        let service = match read("PROXY_SERVICE") {
            Some(s) => {
                let s = s.trim().to_string();
                if s.len() > 255 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(ConfigError::new(
                        "PROXY_SERVICE",
                        "must be one service name (no spaces), at most 255 bytes",
                    ));
                }
                if !settings.services.contains(&s) {
                    return Err(ConfigError::new(
                        "PROXY_SERVICE",
                        format!(
                            "'{s}' is not one of SERVICES ({}): the proxy checks Basic credentials \
                             and ACLs for a service this Tollgate knows",
                            settings.services.join(" ")
                        ),
                    ));
                }
                s
            }
            None => settings.services.first().cloned().ok_or_else(|| {
                ConfigError::new(
                    "PROXY_SERVICE",
                    "is not set and SERVICES is empty: name the service tokens must be issued for",
                )
            })?,
        };
        let ledger = match read("PULL_LEDGER").map(|v| v.trim().to_ascii_lowercase()) {
            None => true,
            Some(v) if v == "on" => true,
            Some(v) if v == "off" => false,
            Some(_) => {
                return Err(ConfigError::new(
                    "PULL_LEDGER",
                    "must be 'on' (default: one log line per proxied request) or 'off'",
                ))
            }
        };
        Ok(ProxySettings {
            origin,
            origin_auth,
            origin_timeout,
            chart,
            service,
            ledger,
        })
    }

    /// The origin URL for a validated path and raw query: the configured origin's scheme, host
    /// and port, nothing taken from the request but the path and query.
    pub fn origin_url(&self, path: &str, query: &str) -> String {
        let base = self.origin.as_str().trim_end_matches('/');
        if query.is_empty() {
            format!("{base}{path}")
        } else {
            format!("{base}{path}?{query}")
        }
    }
}

fn parse_origin(value: Option<&str>) -> Result<Url, ConfigError> {
    let err = |m: &str| ConfigError::new("ORIGIN", m.to_string());
    let Some(value) = value else {
        return Err(err(
            "is not set: give the registry or chart repository to forward to, e.g. 'http://127.0.0.1:5001'",
        ));
    };
    let url = Url::parse(value.trim()).map_err(|_| {
        err("is not a URL: use http(s)://host[:port], e.g. 'https://registry.internal'")
    })?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(err("must use http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(err("has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(err(
            "must not contain credentials: put them in the ORIGIN_AUTH secret",
        ));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(err(
            "must be only scheme, host and port (no path, query or fragment)",
        ));
    }
    Ok(url)
}

fn parse_origin_auth(value: &str) -> Result<String, ConfigError> {
    let (scheme, credential) = value.split_once(' ').unwrap_or((value, ""));
    let scheme_ok = scheme.eq_ignore_ascii_case("basic") || scheme.eq_ignore_ascii_case("bearer");
    let credential = credential.trim();
    let credential_ok = !credential.is_empty() && credential.bytes().all(|b| b.is_ascii_graphic());
    if !scheme_ok || !credential_ok {
        // Never echo the value: it is a secret.
        return Err(ConfigError::new(
            "ORIGIN_AUTH",
            "must be a full Authorization value: 'Basic <base64 user:password>' or 'Bearer <token>'",
        ));
    }
    Ok(format!("{scheme} {credential}"))
}

#[cfg(test)]
mod tests;
