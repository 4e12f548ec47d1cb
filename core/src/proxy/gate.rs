//! The proxy's decision for one request: forward it (and where), or refuse it (and how).
//!
//! Order matters and is fixed: map the path to the access it needs (unknown paths never reach
//! authentication or the origin), read the credential, verify it, check the grant. Bearer tokens
//! are verified by the token service's own verifier (same keys, alg pinned, iss/aud/exp/nbf with
//! leeway) and cached in the isolate; Basic credentials go through the token endpoint's own
//! credential check and ACL (see [`Authority`]), so the proxy and the token endpoint can never
//! disagree about who may do what.

use super::authorize::{check_access, refusal_response, route_error_response, Refusal};
use super::cache::{VerifiedToken, VerifyCache};
use super::config::ProxySettings;
use super::headers::PublicHost;
use super::route::{cacheable_endpoint, classify, required_for, Endpoint, Required};
use crate::federation::Fetch;
use crate::limits::{MAX_AUTHORIZATION_LEN, MAX_TOKEN_LEN};
use crate::out_of_line::out_of_line;
use crate::protocol::HttpResponse;
use crate::store::Store;
use crate::token::Access;
use crate::token_service::{AuthError, Rejected, RequestContext};
use std::cell::RefCell;

/// What Basic credentials were granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasicGrant {
    pub account: String,
    /// The requested access, narrowed by the ACL (the token endpoint's intersection).
    pub access: Vec<Access>,
}

/// The token service's verification and authorization, as the proxy needs them. Implemented for
/// the token endpoint's `TokenService`; tests use a fake.
#[allow(async_fn_in_trait)] // single-threaded wasm: no Send bound wanted
pub trait Authority {
    /// Verifies a bearer token for `audience` at `now` (signature, alg, kid, iss, aud, exp, nbf).
    fn verify_token(
        &self,
        token: &str,
        audience: &str,
        now: u64,
    ) -> Result<VerifiedToken, Rejected>;

    /// Checks a `Basic ...` Authorization value against KV and grants `requested` through the ACL
    /// for `service`, exactly as a token request with those scopes would be.
    async fn grant_basic<S: Store, F: Fetch>(
        &self,
        authorization: &str,
        service: &str,
        requested: &[Access],
        ctx: &RequestContext<'_, S, F>,
    ) -> Result<BasicGrant, AuthError>;
}

/// The parts of a request the decision depends on.
#[derive(Debug, Clone)]
pub struct RequestMeta<'a> {
    pub method: &'a str,
    /// Raw path (percent-encoding as received).
    pub path: &'a str,
    /// Raw query without `?`.
    pub query: &'a str,
    /// Every Authorization header value (a repeated header is refused).
    pub authorization: Vec<&'a str>,
    pub content_type: Option<&'a str>,
    /// How many header fields the request has: more than `MAX_REQUEST_HEADERS` is a 431, so
    /// nothing is ever decided on a trimmed header set.
    pub header_count: usize,
    /// How the client reached us (for the realm and `Location` rewriting).
    pub public: &'a PublicHost,
}

/// Who was let through, for the audit line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admitted {
    Token { subject: String, cached: bool },
    Basic { account: String },
}

impl Admitted {
    pub fn name(&self) -> &str {
        match self {
            Admitted::Token { subject, .. } => subject,
            Admitted::Basic { account } => account,
        }
    }
}

/// The outcome for one request.
#[derive(Debug)]
pub enum Decision {
    /// Forward to `url` (ORIGIN + the validated path + the raw query).
    Forward {
        url: String,
        principal: Admitted,
        /// The edge-cache key when the response may be answered from / stored in the edge cache
        /// (immutable content, authorized): Tollgate's public URL with exactly the path and
        /// query the origin is asked for, so two requests share an entry only if the origin
        /// would see the same request line.
        cache_key: Option<String>,
        endpoint: Endpoint,
    },
    /// `GET /v2/_catalog` from a caller without `registry:catalog:*`: answer with the origin's
    /// catalog filtered to what `subject` may pull (issue 16, catalog.rs).
    FilteredCatalog {
        subject: String,
        query: super::catalog::CatalogQuery,
    },
    /// Answer with this response; `reason` is a short code for the log line.
    Refuse {
        response: Box<HttpResponse>,
        reason: &'static str,
    },
}

/// The proxy of one isolate: settings plus the verified-token cache.
#[derive(Debug)]
pub struct Gate {
    settings: ProxySettings,
    /// REALM from the token service settings; `None`: `<public host>/token`.
    realm: Option<String>,
    tokens: RefCell<VerifyCache>,
}

enum Credential<'a> {
    None,
    Bearer(&'a str),
    Basic(&'a str),
    Malformed,
}

fn credential<'a>(values: &[&'a str]) -> Credential<'a> {
    let value = match values {
        [] => return Credential::None,
        [one] => *one,
        _ => return Credential::Malformed,
    };
    if value.len() > MAX_AUTHORIZATION_LEN {
        return Credential::Malformed;
    }
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
        Credential::Bearer(rest)
    } else if scheme.eq_ignore_ascii_case("basic") && !rest.is_empty() {
        Credential::Basic(value)
    } else {
        Credential::Malformed
    }
}

impl Gate {
    pub fn new(settings: ProxySettings, realm: Option<String>) -> Self {
        Self {
            settings,
            realm,
            tokens: RefCell::new(VerifyCache::default()),
        }
    }

    pub fn settings(&self) -> &ProxySettings {
        &self.settings
    }

    /// The token endpoint URL named in challenges.
    pub(crate) fn realm(&self, public: &PublicHost) -> String {
        match &self.realm {
            Some(r) => r.clone(),
            None => format!("{}://{}/token", public.scheme, public.host),
        }
    }

    /// Decides one request. Never panics; every refusal is a complete response.
    pub async fn decide<S: Store, F: Fetch>(
        &self,
        authority: &impl Authority,
        req: &RequestMeta<'_>,
        ctx: &RequestContext<'_, S, F>,
    ) -> Decision {
        let now = ctx.now;
        if let Some(e) = crate::token_service::too_many_headers(req.header_count) {
            return Decision::Refuse {
                response: Box::new(super::authorize::server_error_response(
                    e.kind.status(),
                    &e.message,
                )),
                reason: "too_many_headers",
            };
        }
        let chart = &self.settings.chart;
        // One parse of the path: the endpoint decides the scope, the cacheability and the checks.
        let routed = classify(req.path, chart)
            .and_then(|e| required_for(&e, req.method, req.query).map(|r| (e, r)));
        let (endpoint, required) = match routed {
            Ok(pair) => pair,
            Err(e) => {
                return Decision::Refuse {
                    response: Box::new(route_error_response(e)),
                    reason: "route",
                }
            }
        };
        if origin_reads_form(&endpoint) && form_body(req.content_type) {
            // docker-registry reads `from`, `mount` and `digest` with Go's r.FormValue, which also
            // parses urlencoded bodies (POST/PUT/PATCH) and multipart bodies (any method) when
            // the query lacks them: such a body could name a mount source we never authorized.
            // The required access comes from the query alone, so no body may carry form values.
            return Decision::Refuse {
                response: Box::new(super::authorize::server_error_response(
                    415,
                    "form bodies (multipart/* or application/x-www-form-urlencoded) are not \
                     accepted on registry endpoints; send application/octet-stream or the \
                     manifest media type, and put parameters in the query string",
                )),
                reason: "form_body",
            };
        }
        let realm = self.realm(req.public);
        let service = self.settings.service.as_str();
        let refuse = |refusal: Refusal, reason: &'static str| Decision::Refuse {
            response: Box::new(refusal_response(refusal, &required, &realm, service)),
            reason,
        };
        let principal = match credential(&req.authorization) {
            Credential::None => return refuse(Refusal::Unauthenticated, "no_credentials"),
            Credential::Malformed => {
                return refuse(Refusal::MalformedAuthorization, "malformed_authorization")
            }
            Credential::Bearer(token) => {
                if token.len() > MAX_TOKEN_LEN {
                    return refuse(Refusal::InvalidToken, "token_too_long");
                }
                let cached = self.tokens.borrow().get(token, now).cloned();
                let (verified, was_cached) = match cached {
                    Some(v) => (v, true),
                    None => match authority.verify_token(token, service, now) {
                        Ok(v) => {
                            self.tokens.borrow_mut().insert(token, v.clone(), now);
                            (v, false)
                        }
                        // The client sees only invalid_token (a probe learns nothing about which
                        // check failed); the reason goes to the log line.
                        Err(why) => return refuse(Refusal::InvalidToken, why.as_str()),
                    },
                };
                // A network-bound token (its `net` claim, issue 16) copied off its network is
                // refused on every request, cached or not, as its credential would be.
                if let Err(why) = crate::netbind::admit(verified.net.as_ref(), || ctx.client_net())
                {
                    return super::netbound::refuse(&why);
                }
                if check_access(&verified.access, &required).is_err() {
                    // The filtered catalog (issue 16): what the caller may pull, not a 401.
                    if endpoint == Endpoint::Catalog {
                        return super::catalog::filtered(&verified.subject, req.query);
                    }
                    return refuse(Refusal::InsufficientScope, "insufficient_scope");
                }
                Admitted::Token {
                    subject: verified.subject,
                    cached: was_cached,
                }
            }
            Credential::Basic(value) => {
                let requested: &[Access] = match &required {
                    Required::Authenticated => &[],
                    Required::Access(list) => list,
                };
                // Out of line: a Bearer request (the usual one) need not compile the Basic path's
                // whole credential check ([`crate::out_of_line`]).
                match out_of_line(authority.grant_basic(value, service, requested, ctx)).await {
                    Ok(grant) => {
                        if check_access(&grant.access, &required).is_err() {
                            // The filtered catalog (issue 16): what the caller may pull, not a 401.
                            if endpoint == Endpoint::Catalog {
                                return super::catalog::filtered(&grant.account, req.query);
                            }
                            return refuse(Refusal::Denied, "denied");
                        }
                        Admitted::Basic {
                            account: grant.account,
                        }
                    }
                    Err(e) => return refuse_auth(e, refuse),
                }
            }
        };
        let cache_key = cacheable_endpoint(&endpoint, req.method).then(|| {
            let mut key = format!("{}://{}{}", req.public.scheme, req.public.host, req.path);
            if !req.query.is_empty() {
                key.push('?');
                key.push_str(req.query);
            }
            key
        });
        Decision::Forward {
            url: self.settings.origin_url(req.path, req.query),
            principal,
            cache_key,
            endpoint,
        }
    }
}

/// The proxy's rendering of an authentication failure, in the registry's protocol.
fn refuse_auth(e: AuthError, refuse: impl Fn(Refusal, &'static str) -> Decision) -> Decision {
    let error = |status, message: &str, reason| Decision::Refuse {
        response: Box::new(super::authorize::server_error_response(status, message)),
        reason,
    };
    match e {
        AuthError::Rejected(_) => refuse(Refusal::InvalidCredentials, "invalid_credentials"),
        AuthError::Malformed(_) => {
            refuse(Refusal::MalformedAuthorization, "malformed_authorization")
        }
        AuthError::Network { refusal, .. } => super::netbound::refuse(&refusal),
        AuthError::Throttled { retry_after } => Decision::Refuse {
            response: Box::new(super::authorize::too_many_requests_response(retry_after)),
            reason: "throttled",
        },
        AuthError::Broken(_) => error(
            500,
            "a stored credential record is malformed; nothing was forwarded",
            "store_malformed",
        ),
        _ => error(
            503,
            "credential storage is unavailable; nothing was forwarded, try again",
            "store_unavailable",
        ),
    }
}

/// Whether the origin behind this endpoint may read form values (Go's `r.FormValue`) that
/// decide access: every distribution endpoint. Chart endpoints are excluded: ChartMuseum takes the
/// namespace from the path alone, and its upload API is a multipart form by design.
fn origin_reads_form(endpoint: &Endpoint) -> bool {
    !matches!(
        endpoint,
        Endpoint::ChartIndex { .. } | Endpoint::ChartFile { .. } | Endpoint::ChartApi { .. }
    )
}

/// Whether a form parser might read this body: a Content-Type that names a form media type
/// anywhere, in any case, with any parameters. Deliberately broader than a media-type parse:
/// Go's `mime.ParseMediaType` returns the type even when the parameters are malformed, and
/// several Content-Type headers reach the origin joined by commas, so only "mentions no form
/// type at all" is safe. Every registry client sends octet-stream or a manifest type here.
fn form_body(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else {
        return false;
    };
    let lower = ct.to_ascii_lowercase();
    ["multipart/", "x-www-form-urlencoded", "form-data"]
        .iter()
        .any(|t| lower.contains(t))
}

/// A request as the worker describes it to the gate: three header fields and no Content-Type
/// (tests and benchmarks change the rest with struct update syntax).
#[cfg(any(test, feature = "testing"))]
impl<'a> RequestMeta<'a> {
    pub fn new(
        method: &'a str,
        path: &'a str,
        query: &'a str,
        authorization: Vec<&'a str>,
        public: &'a PublicHost,
    ) -> Self {
        RequestMeta {
            method,
            path,
            query,
            authorization,
            content_type: None,
            header_count: 3,
            public,
        }
    }
}

#[cfg(test)]
mod tests;
