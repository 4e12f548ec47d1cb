//! Which access a proxied request needs, decided from its method, path and query alone.
//!
//! The proxy must demand exactly what the origin registry would demand if it did token auth
//! itself (docker-registry 2.8's `appendAccessRecords`): GET/HEAD need `pull`; POST/PUT/PATCH need
//! `pull` and `push`; DELETE needs `delete`; a cross-repository blob mount (`?from=`) also needs
//! `pull` on the source; `/v2/_catalog` needs `registry:catalog:*`; `/v2/` needs any valid
//! credential. Chart repository paths (a static Helm repository and ChartMuseum's API) map to
//! `artifact-repository:<namespace>:<action>` with the namespace depth ChartMuseum's `--depth` sets.
//!
//! Deny by default: only paths that match a known endpoint, with every path parameter validated
//! against its grammar, get a [`Required`]. Because the validated grammars contain no `%`, no
//! empty segment and no `.`/`..` segment, the origin cannot interpret the forwarded path as a
//! different resource than the one authorized here.

use crate::limits::{MAX_FORM_LEN, MAX_REPOSITORY_NAME_LEN};
use crate::token::Access;
use std::fmt;

/// Bytes in a request path the proxy will look at. Longer paths are refused (414).
pub(crate) const MAX_PATH_LEN: usize = 2048;
/// Deepest chart namespace accepted (ChartMuseum's `--depth`).
pub const MAX_CHART_DEPTH: usize = 8;
/// The namespace ChartMuseum's token authorizer uses when `--depth=0` (chartmuseum/auth's
/// `DefaultNamespace`), so tokens minted for a depth-0 ChartMuseum work here too.
pub(crate) const DEFAULT_CHART_NAMESPACE: &str = "repo";
/// Resource type of chart repository scopes (ChartMuseum's `AccessEntryType`).
pub(crate) const CHART_RESOURCE_TYPE: &str = "artifact-repository";
/// Bytes in one chart file name, chart name or version segment.
const MAX_CHART_SEGMENT_LEN: usize = 255;
/// Bytes in a manifest digest or blob digest (the hex part of sha512 is 128 chars).
const MAX_DIGEST_LEN: usize = 255;
/// Bytes in an upload session id.
const MAX_UPLOAD_ID_LEN: usize = 255;

/// How chart repository paths are laid out: the number of leading path segments that name the
/// namespace (ChartMuseum's `--depth`: 0 = a single repository at the root).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChartLayout {
    depth: usize,
}

impl ChartLayout {
    /// A layout with `depth` namespace segments; refuses depths above [`MAX_CHART_DEPTH`].
    pub fn new(depth: usize) -> Result<Self, ChartDepthError> {
        if depth > MAX_CHART_DEPTH {
            return Err(ChartDepthError(depth));
        }
        Ok(Self { depth })
    }

    pub(crate) fn depth(&self) -> usize {
        self.depth
    }
}

/// A configured chart depth beyond [`MAX_CHART_DEPTH`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChartDepthError(pub usize);

impl fmt::Display for ChartDepthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CHART_DEPTH {} is too deep: use 0 to {MAX_CHART_DEPTH} namespace segments",
            self.0
        )
    }
}

impl std::error::Error for ChartDepthError {}

/// What a request needs before it may be forwarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Required {
    /// Any valid credential will do, and no scope is needed (`/v2/`, the API version check).
    Authenticated,
    /// Every action of every entry must be granted. Never empty.
    Access(Vec<Access>),
}

impl Required {
    /// The scopes as a WWW-Authenticate `scope` value: space-separated `type:name:actions`, the
    /// way docker-registry renders them. Empty for [`Required::Authenticated`].
    pub fn scope_param(&self) -> String {
        match self {
            Required::Authenticated => String::new(),
            Required::Access(list) => list
                .iter()
                .map(|a| format!("{}:{}:{}", a.resource_type, a.name, a.actions.join(",")))
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

/// The endpoint a path addresses, with its validated parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `/v2/` (or `/v2`): API version check.
    Base,
    /// `/v2/_catalog`.
    Catalog,
    /// `/v2/<name>/tags/list`.
    Tags { name: String },
    /// `/v2/<name>/manifests/<tag or digest>`.
    Manifest { name: String, reference: String },
    /// `/v2/<name>/blobs/<digest>`.
    Blob { name: String, digest: String },
    /// `/v2/<name>/blobs/uploads/` (start an upload or mount).
    UploadStart { name: String },
    /// `/v2/<name>/blobs/uploads/<id>`.
    Upload { name: String, id: String },
    /// `/v2/<name>/referrers/<digest>` (OCI distribution 1.1).
    Referrers { name: String, digest: String },
    /// `<namespace>/index.yaml`.
    ChartIndex { namespace: String },
    /// `<namespace>/charts/<file>` or `<namespace>/<file>` (a `.tgz` or `.tgz.prov`).
    ChartFile { namespace: String, file: String },
    /// ChartMuseum's `/api/<namespace>/charts[/<name>[/<version>[/templates|values]]]` and
    /// `/api/<namespace>/prov`.
    ChartApi { namespace: String },
}

/// Why a request cannot be mapped to a scope. Each maps to an HTTP status and a distribution error
/// code; the message says what to fix and never echoes the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteError {
    /// No endpoint lives at this path.
    NotFound,
    /// The endpoint exists but not for this method.
    MethodNotAllowed,
    /// A repository name (or a `from=` source) breaks the distribution name grammar.
    NameInvalid,
    /// A digest breaks the digest grammar.
    DigestInvalid,
    /// A manifest reference is neither a valid tag nor a valid digest.
    TagInvalid,
    /// An upload session id has characters no registry issues.
    UploadInvalid,
    /// A chart namespace, file, chart name or version segment is malformed.
    ChartPathInvalid,
    /// The query is too long, or repeats a parameter that decides authorization.
    QueryInvalid,
    /// The path is longer than [`MAX_PATH_LEN`].
    PathTooLong,
}

impl RouteError {
    /// HTTP status to answer with.
    pub fn status(&self) -> u16 {
        match self {
            RouteError::NotFound => 404,
            RouteError::MethodNotAllowed => 405,
            RouteError::PathTooLong => 414,
            _ => 400,
        }
    }

    /// Distribution error code for the body.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            RouteError::NotFound | RouteError::MethodNotAllowed => "UNSUPPORTED",
            RouteError::NameInvalid => "NAME_INVALID",
            RouteError::DigestInvalid => "DIGEST_INVALID",
            RouteError::TagInvalid => "TAG_INVALID",
            RouteError::UploadInvalid => "BLOB_UPLOAD_INVALID",
            RouteError::ChartPathInvalid | RouteError::QueryInvalid | RouteError::PathTooLong => {
                "UNSUPPORTED"
            }
        }
    }

    /// A message a person can act on.
    pub fn message(&self) -> &'static str {
        match self {
            RouteError::NotFound => "no registry or chart repository endpoint at this path",
            RouteError::MethodNotAllowed => "this endpoint does not accept this HTTP method",
            RouteError::NameInvalid => {
                "invalid repository name: lowercase components of [a-z0-9] separated by '.', '_', \
                 '__' or '-', joined by single '/', at most 255 bytes, no percent-encoding"
            }
            RouteError::DigestInvalid => {
                "invalid digest: expected <algorithm>:<hex>, e.g. sha256:<64 hex>"
            }
            RouteError::TagInvalid => {
                "invalid manifest reference: a tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}) or a digest"
            }
            RouteError::UploadInvalid => "invalid upload session id",
            RouteError::ChartPathInvalid => {
                "invalid chart repository path: namespace segments, chart names, versions and \
                 file names must be plain names (no '..', empty segments or percent-encoding)"
            }
            RouteError::QueryInvalid => {
                "invalid query: too long, contains ';', or the 'from' or 'mount' parameter is \
                 repeated or malformed"
            }
            RouteError::PathTooLong => "request path too long",
        }
    }
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for RouteError {}

/// Maps a request to the access it needs. `path` is the raw (still percent-encoded) path, `query`
/// the raw query string without `?` (empty if none).
pub fn required_access(
    method: &str,
    path: &str,
    query: &str,
    chart: &ChartLayout,
) -> Result<Required, RouteError> {
    required_for(&classify(path, chart)?, method, query)
}

/// [`required_access`] for an already classified path: checks the method, then maps it.
pub(crate) fn required_for(
    endpoint: &Endpoint,
    method: &str,
    query: &str,
) -> Result<Required, RouteError> {
    check_method(endpoint, method)?;
    if query.len() > MAX_FORM_LEN {
        return Err(RouteError::QueryInvalid);
    }
    let required = match endpoint {
        Endpoint::Base => Required::Authenticated,
        Endpoint::Catalog => Required::Access(vec![access("registry", "catalog", &["*"])]),
        Endpoint::Tags { name }
        | Endpoint::Manifest { name, .. }
        | Endpoint::Blob { name, .. }
        | Endpoint::UploadStart { name }
        | Endpoint::Upload { name, .. }
        | Endpoint::Referrers { name, .. } => {
            let mut list = vec![access("repository", name, distribution_actions(method))];
            // Go before 1.17 also split queries on `;`, so `x=1;from=org/secret` named a source
            // that `&`-splitting never sees. No registry client sends `;`: refuse it rather than
            // guess which parser the origin runs.
            if query.contains(';') {
                return Err(RouteError::QueryInvalid);
            }
            // docker-registry reads `from` with r.FormValue on every repository route, so we
            // demand pull on it wherever it appears, not only on mounts.
            if let Some(from) = single_param(query, "from")? {
                if !valid_repository_name(&from) {
                    return Err(RouteError::NameInvalid);
                }
                if let Some(mount) = single_param(query, "mount")? {
                    if !valid_digest(&mount) {
                        return Err(RouteError::DigestInvalid);
                    }
                }
                list.push(access("repository", &from, &["pull"]));
            }
            Required::Access(list)
        }
        Endpoint::ChartIndex { namespace }
        | Endpoint::ChartFile { namespace, .. }
        | Endpoint::ChartApi { namespace } => Required::Access(vec![access(
            CHART_RESOURCE_TYPE,
            namespace,
            chart_actions(method),
        )]),
    };
    Ok(required)
}

/// Whether a successful response to this request is immutable and content-addressed, so it may
/// be kept in the edge cache (still served only after the requester is authorized): GET of a blob
/// by digest, and GET of a chart package.
pub fn cacheable(method: &str, path: &str, chart: &ChartLayout) -> bool {
    classify(path, chart).is_ok_and(|e| cacheable_endpoint(&e, method))
}

/// [`cacheable`] for an already classified path.
pub(crate) fn cacheable_endpoint(endpoint: &Endpoint, method: &str) -> bool {
    match endpoint {
        Endpoint::Blob { .. } => method == "GET",
        Endpoint::ChartFile { file, .. } => method == "GET" && file.ends_with(".tgz"),
        _ => false,
    }
}

/// Parses a raw path into the endpoint it addresses, validating every parameter.
pub fn classify(path: &str, chart: &ChartLayout) -> Result<Endpoint, RouteError> {
    if path.len() > MAX_PATH_LEN {
        return Err(RouteError::PathTooLong);
    }
    if path == "/v2" || path == "/v2/" {
        return Ok(Endpoint::Base);
    }
    if let Some(rest) = path.strip_prefix("/v2/") {
        return classify_distribution(rest);
    }
    if let Some(rest) = path.strip_prefix("/api/") {
        return classify_chart_api(rest, chart);
    }
    if let Some(rest) = path.strip_prefix('/') {
        return classify_chart_static(rest, chart);
    }
    Err(RouteError::NotFound)
}

fn classify_distribution(rest: &str) -> Result<Endpoint, RouteError> {
    if rest == "_catalog" {
        return Ok(Endpoint::Catalog);
    }
    let segments: Vec<&str> = rest.split('/').collect();
    let n = segments.len();
    // Match on the tail: the name is everything before the endpoint suffix, as docker-registry's
    // greedy route regexps take it (`/v2/a/manifests/b/manifests/latest` names `a/manifests/b`).
    let tail = |k: usize| segments.get(n.wrapping_sub(k)).copied();
    let name_before = |k: usize| -> Result<String, RouteError> {
        let parts = segments.get(..n - k).unwrap_or(&[]);
        let name = parts.join("/");
        if valid_repository_name(&name) {
            Ok(name)
        } else {
            Err(RouteError::NameInvalid)
        }
    };
    if n >= 3 && tail(2) == Some("tags") && tail(1) == Some("list") {
        return Ok(Endpoint::Tags {
            name: name_before(2)?,
        });
    }
    if n >= 4 && tail(3) == Some("blobs") && tail(2) == Some("uploads") {
        let name = name_before(3)?;
        let id = tail(1).unwrap_or("");
        if id.is_empty() {
            return Ok(Endpoint::UploadStart { name });
        }
        if !valid_upload_id(id) {
            return Err(RouteError::UploadInvalid);
        }
        return Ok(Endpoint::Upload {
            name,
            id: id.to_string(),
        });
    }
    if n >= 3 {
        let last = tail(1).unwrap_or("");
        match tail(2) {
            Some("manifests") => {
                let name = name_before(2)?;
                if !(valid_tag(last) || valid_digest(last)) {
                    return Err(RouteError::TagInvalid);
                }
                return Ok(Endpoint::Manifest {
                    name,
                    reference: last.to_string(),
                });
            }
            Some(kind @ ("blobs" | "referrers")) => {
                let name = name_before(2)?;
                if !valid_digest(last) {
                    return Err(RouteError::DigestInvalid);
                }
                let digest = last.to_string();
                return Ok(if kind == "blobs" {
                    Endpoint::Blob { name, digest }
                } else {
                    Endpoint::Referrers { name, digest }
                });
            }
            _ => {}
        }
    }
    Err(RouteError::NotFound)
}

/// Splits off the first `depth` namespace segments, validating each. Depth 0 yields ChartMuseum's
/// default namespace.
fn split_namespace<'a>(
    segments: &'a [&'a str],
    chart: &ChartLayout,
) -> Result<(String, &'a [&'a str]), RouteError> {
    let depth = chart.depth();
    if depth == 0 {
        return Ok((DEFAULT_CHART_NAMESPACE.to_string(), segments));
    }
    let (ns, rest) = match (segments.get(..depth), segments.get(depth..)) {
        (Some(ns), Some(rest)) => (ns, rest),
        _ => return Err(RouteError::NotFound),
    };
    if !ns.iter().all(|s| valid_name_component(s)) {
        return Err(RouteError::ChartPathInvalid);
    }
    let namespace = ns.join("/");
    if namespace.len() > MAX_REPOSITORY_NAME_LEN {
        return Err(RouteError::ChartPathInvalid);
    }
    Ok((namespace, rest))
}

fn classify_chart_static(rest: &str, chart: &ChartLayout) -> Result<Endpoint, RouteError> {
    let segments: Vec<&str> = rest.split('/').collect();
    let (namespace, tail) = split_namespace(&segments, chart)?;
    match tail {
        ["index.yaml"] => Ok(Endpoint::ChartIndex { namespace }),
        ["charts", file] | [file] if is_chart_file_name(file) => {
            if !valid_chart_segment(file) {
                return Err(RouteError::ChartPathInvalid);
            }
            Ok(Endpoint::ChartFile {
                namespace,
                file: (*file).to_string(),
            })
        }
        _ => Err(RouteError::NotFound),
    }
}

fn classify_chart_api(rest: &str, chart: &ChartLayout) -> Result<Endpoint, RouteError> {
    let segments: Vec<&str> = rest.split('/').collect();
    let (namespace, tail) = split_namespace(&segments, chart)?;
    let params_ok = |params: &[&str]| params.iter().all(|p| valid_chart_segment(p));
    match tail {
        ["prov"] | ["charts"] => Ok(Endpoint::ChartApi { namespace }),
        ["charts", params @ ..] if params.len() <= 3 => {
            if !params_ok(params) {
                return Err(RouteError::ChartPathInvalid);
            }
            if let [_, _, sub] = params {
                if *sub != "templates" && *sub != "values" {
                    return Err(RouteError::NotFound);
                }
            }
            Ok(Endpoint::ChartApi { namespace })
        }
        _ => Err(RouteError::NotFound),
    }
}

/// Methods each endpoint accepts. Anything else is refused before authentication, so an unknown
/// method can never be forwarded under a weaker scope.
fn check_method(endpoint: &Endpoint, method: &str) -> Result<(), RouteError> {
    let allowed: &[&str] = match endpoint {
        Endpoint::Base | Endpoint::Catalog | Endpoint::Tags { .. } => &["GET", "HEAD"],
        Endpoint::Manifest { .. } => &["GET", "HEAD", "PUT", "DELETE"],
        Endpoint::Blob { .. } => &["GET", "HEAD", "DELETE"],
        Endpoint::UploadStart { .. } => &["POST"],
        Endpoint::Upload { .. } => &["GET", "HEAD", "PATCH", "PUT", "DELETE"],
        Endpoint::Referrers { .. } => &["GET", "HEAD"],
        Endpoint::ChartIndex { .. } | Endpoint::ChartFile { .. } => &["GET", "HEAD"],
        Endpoint::ChartApi { .. } => &["GET", "HEAD", "POST", "PUT", "DELETE"],
    };
    if allowed.contains(&method) {
        Ok(())
    } else {
        Err(RouteError::MethodNotAllowed)
    }
}

/// docker-registry 2.8's method -> actions table. Only called with methods `check_method` let by.
fn distribution_actions(method: &str) -> &'static [&'static str] {
    match method {
        "GET" | "HEAD" => &["pull"],
        "DELETE" => &["delete"],
        _ => &["pull", "push"],
    }
}

/// Chart repository method -> action: reads pull, uploads push, deletions delete.
fn chart_actions(method: &str) -> &'static [&'static str] {
    match method {
        "GET" | "HEAD" => &["pull"],
        "DELETE" => &["delete"],
        _ => &["push"],
    }
}

fn access(resource_type: &str, name: &str, actions: &[&str]) -> Access {
    Access {
        resource_type: resource_type.to_string(),
        name: name.to_string(),
        actions: actions.iter().map(|a| a.to_string()).collect(),
    }
}

/// The value of `key` in the query, refusing a repeated key: the origin and the proxy must never
/// disagree about which value counts.
fn single_param(query: &str, key: &str) -> Result<Option<String>, RouteError> {
    let mut found = None;
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        if k == key {
            if found.is_some() {
                return Err(RouteError::QueryInvalid);
            }
            found = Some(v.into_owned());
        }
    }
    Ok(found)
}

/// Distribution repository name: path components joined by single `/`, at most 255 bytes.
pub(crate) fn valid_repository_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_REPOSITORY_NAME_LEN
        && name.split('/').all(valid_name_component)
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*` from distribution's reference grammar.
fn valid_name_component(c: &str) -> bool {
    let alnum = |x: char| x.is_ascii_lowercase() || x.is_ascii_digit();
    let ends_ok = c.starts_with(alnum) && c.ends_with(alnum);
    let chars_ok = c.chars().all(|x| alnum(x) || matches!(x, '.' | '_' | '-'));
    // Every run of separators between two alphanumerics: '.', '_', '__' or any number of '-'.
    let runs_ok = c
        .split(alnum)
        .filter(|run| !run.is_empty())
        .all(|run| run == "." || run == "_" || run == "__" || run.chars().all(|x| x == '-'));
    ends_ok && chars_ok && runs_ok
}

/// `[\w][\w.-]{0,127}` (tags).
fn valid_tag(t: &str) -> bool {
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    let b = t.as_bytes();
    match b.first() {
        Some(&f) if word(f) => {}
        _ => return false,
    }
    b.len() <= 128 && b.iter().all(|&x| word(x) || x == b'.' || x == b'-')
}

/// docker-registry 2.8's route digest grammar:
/// `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}`.
fn valid_digest(d: &str) -> bool {
    if d.len() > MAX_DIGEST_LEN {
        return false;
    }
    let Some((alg, hex)) = d.split_once(':') else {
        return false;
    };
    let alg_ok = !alg.is_empty()
        && alg.split(['-', '_', '+', '.']).all(|part| {
            let b = part.as_bytes();
            matches!(b.first(), Some(f) if f.is_ascii_alphabetic())
                && b.iter().all(|x| x.is_ascii_alphanumeric())
        });
    alg_ok && hex.len() >= 32 && hex.bytes().all(|x| x.is_ascii_hexdigit())
}

/// `[a-zA-Z0-9-_.=]+` (docker-registry's upload UUID route grammar), bounded.
fn valid_upload_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_UPLOAD_ID_LEN
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|x| x.is_ascii_alphanumeric() || matches!(x, b'-' | b'_' | b'.' | b'='))
}

fn is_chart_file_name(f: &str) -> bool {
    f.ends_with(".tgz") || f.ends_with(".tgz.prov")
}

/// A chart file name, chart name or version: `[A-Za-z0-9][A-Za-z0-9._+-]*`, bounded.
fn valid_chart_segment(s: &str) -> bool {
    let b = s.as_bytes();
    matches!(b.first(), Some(f) if f.is_ascii_alphanumeric())
        && b.len() <= MAX_CHART_SEGMENT_LEN
        && b.iter()
            .all(|x| x.is_ascii_alphanumeric() || matches!(x, b'.' | b'_' | b'+' | b'-'))
}

#[cfg(test)]
mod tests;
