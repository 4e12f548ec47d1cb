//! Which headers cross the proxy, in each direction, and how `Location` is rewritten.
//!
//! Hop-by-hop headers (RFC 9110 7.6.1: `Connection` and every header it lists, plus
//! `Keep-Alive`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade` and `Proxy-*`) describe one
//! connection and are dropped. The client's `Authorization` (a Tollgate token or Tollgate
//! credentials) never reaches the origin; the origin's own credentials are added instead. The
//! client's forwarding headers are replaced by ours, so the origin can build absolute URLs that
//! point at Tollgate and cannot be told a made-up host.

use url::Url;

/// Headers that only describe the current connection (RFC 9110 7.6.1) or that the runtime sets.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
];

/// Request headers never forwarded: credentials meant for Tollgate, forwarding/edge headers a
/// client could forge, and every header an origin or its framework may take as a different
/// method, path or client (the required access is computed from the method and path Tollgate
/// sees, so the origin must act on nothing else).
const REQUEST_DROP: &[&str] = &[
    "authorization",
    // `Expect: 100-continue` is answered by the edge itself; forwarded, the origin's interim 100
    // reaches the runtime's fetch as if it were the final status.
    "expect",
    "cookie",
    "forwarded",
    "x-real-ip",
    "true-client-ip",
    "x-client-ip",
    "x-cluster-client-ip",
    "client-ip",
    // Method overrides (Rails, Express method-override, Spring HiddenHttpMethodFilter, Go kits).
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    // Path rewrites honoured by IIS, Symfony, Zend and some reverse proxies.
    "x-original-url",
    "x-rewrite-url",
    "x-original-uri",
    "x-override-url",
];

/// Prefixes of request headers never forwarded: every `X-Forwarded-*` (host, proto, port,
/// prefix, for, server, ...) is the client's claim about a proxy chain; Tollgate sets its own.
const REQUEST_DROP_PREFIXES: &[&str] = &["x-forwarded-", "proxy-", "cf-"];

/// Most headers forwarded in one direction (a request with more is refused upstream of this).
pub const MAX_HEADERS: usize = 128;

fn is_hop_by_hop(name: &str, connection_listed: &[String]) -> bool {
    let lower = name.to_ascii_lowercase();
    HOP_BY_HOP.contains(&lower.as_str())
        || lower.starts_with("proxy-")
        || connection_listed.contains(&lower)
}

/// Whether a client request header stays at Tollgate (hop-by-hop, credential, or one an origin
/// could act on beyond the method and path).
fn dropped_from_request(name: &str, connection_listed: &[String]) -> bool {
    let lower = name.to_ascii_lowercase();
    is_hop_by_hop(&lower, connection_listed)
        || REQUEST_DROP.contains(&lower.as_str())
        || REQUEST_DROP_PREFIXES.iter().any(|p| lower.starts_with(p))
}

/// The header names listed in every `Connection` header, lower-cased.
fn connection_tokens(headers: &[(String, String)]) -> Vec<String> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
        .flat_map(|(_, v)| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

/// The public side of the proxy: the scheme and host clients use to reach Tollgate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicHost {
    /// `http` or `https`.
    pub scheme: String,
    /// Host with optional `:port`, as the client addressed us.
    pub host: String,
}

/// Headers to send to the origin for a client request's headers.
/// `origin_auth` is the full Authorization value for the origin (`Basic ...` / `Bearer ...`).
pub fn request_headers(
    incoming: &[(String, String)],
    origin_auth: Option<&str>,
    public: &PublicHost,
) -> Vec<(String, String)> {
    let listed = connection_tokens(incoming);
    let mut out: Vec<(String, String)> = incoming
        .iter()
        .filter(|(n, _)| !dropped_from_request(n, &listed))
        .cloned()
        .collect();
    if let Some(auth) = origin_auth {
        out.push(("authorization".into(), auth.to_string()));
    }
    out.push(("x-forwarded-proto".into(), public.scheme.clone()));
    out.push(("x-forwarded-host".into(), public.host.clone()));
    out
}

/// Headers to return to the client for the origin's response headers, with `Location` rewritten
/// by [`rewrite_location`].
pub fn response_headers(
    incoming: &[(String, String)],
    origin: &Url,
    public: &PublicHost,
) -> Vec<(String, String)> {
    let listed = connection_tokens(incoming);
    incoming
        .iter()
        .filter(|(n, _)| !is_hop_by_hop(n, &listed))
        .take(MAX_HEADERS)
        .map(|(n, v)| {
            if n.eq_ignore_ascii_case("location") {
                (n.clone(), rewrite_location(v, origin, public))
            } else {
                (n.clone(), v.clone())
            }
        })
        .collect()
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str().map(str::to_ascii_lowercase) == b.host_str().map(str::to_ascii_lowercase)
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Rewrites a `Location` that points at the origin so it points at Tollgate's public host
/// (keeping path and query). Path-relative values stay as they are (they resolve against Tollgate
/// already); absolute URLs elsewhere (a blob store's pre-signed 307 target) pass untouched.
/// A scheme-relative `//host/...` is resolved against the origin first.
pub fn rewrite_location(value: &str, origin: &Url, public: &PublicHost) -> String {
    let absolute = if value.starts_with("//") {
        origin.join(value).ok()
    } else if value.starts_with('/') {
        None
    } else {
        Url::parse(value).ok()
    };
    let Some(target) = absolute else {
        return value.to_string();
    };
    if !same_origin(&target, origin) {
        return value.to_string();
    }
    let mut out = format!("{}://{}{}", public.scheme, public.host, target.path());
    if let Some(q) = target.query() {
        out.push('?');
        out.push_str(q);
    }
    out
}

#[cfg(test)]
mod tests;
