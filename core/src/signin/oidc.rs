//! The OpenID Connect authorization code flow with PKCE (RFC 7636, S256), `state` and `nonce`:
//! building the authorization request, exchanging the code, and checking the ID token.
//!
//! The ID token goes through workload federation's verifier ([`federation::authenticate`]) with
//! the provider as a one-issuer configuration whose only audience is the client ID, so discovery,
//! the JWKS key cache (bounded lifetime, rate-limited refetch), the pinned algorithm (RS256 or
//! ES256, fixed by the key's type) and the iss/aud/exp/nbf/iat checks are the same code. What
//! sign-in adds is checked here on the verified payload: `nonce`, and `azp` when `aud` is a list.

use super::person::Person;
use super::settings::Provider;
use crate::credentials::constant_time_eq;
use crate::federation::{self, Fetch, FetchError, Fetched, Issuers, KeyCache, OIDC_USERNAME};
use crate::limits::MAX_OIDC_DOCUMENT_BYTES;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::cell::RefCell;

/// The token endpoint exchange: a form POST. The worker implements it with `fetch`.
#[allow(async_fn_in_trait)] // single-threaded wasm: no Send bound wanted
pub trait Post {
    /// POSTs `body` (application/x-www-form-urlencoded) with `authorization` if given.
    async fn post_form(
        &self,
        url: &str,
        authorization: Option<&str>,
        body: &str,
    ) -> Result<Fetched, FetchError>;
}

/// A provider's endpoints from its discovery document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoints {
    pub authorization: String,
    pub token: String,
}

/// Reads the two endpoints sign-in needs, after checking that the document describes the
/// provider's issuer (OIDC Discovery 4.3) and that both are https (or loopback http).
pub(crate) fn parse_endpoints(body: &[u8], issuer: &str) -> Result<Endpoints, String> {
    if body.len() > MAX_OIDC_DOCUMENT_BYTES {
        return Err("the discovery document is too large".into());
    }
    let d: Value = crate::json_object::value(body)
        .map_err(|e| format!("the discovery document is not valid JSON ({e})"))?;
    if d.get("issuer").and_then(Value::as_str) != Some(issuer) {
        return Err(format!(
            "the discovery document does not describe issuer '{issuer}'"
        ));
    }
    let url = |name: &str| -> Result<String, String> {
        let u = d
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("the discovery document has no {name}"))?;
        // Endpoints may carry a query (some providers add a tenant or policy parameter), so
        // only the scheme/host rules of issuer URLs apply.
        let parsed = url::Url::parse(u).map_err(|_| format!("{name} is not a URL"))?;
        let base = format!("{}://{}", parsed.scheme(), parsed.host_str().unwrap_or(""));
        federation::issuers::check_url(name, &base)?;
        Ok(u.to_string())
    };
    Ok(Endpoints {
        authorization: url("authorization_endpoint")?,
        token: url("token_endpoint")?,
    })
}

/// Fetches and parses the provider's discovery document (the worker's fetch is cached by the
/// Cache API for the document's max-age).
pub(crate) async fn endpoints(p: &Provider, fetch: &impl Fetch) -> Result<Endpoints, String> {
    let url = p.issuer_config().discovery_url();
    let doc = fetch
        .get(&url, false)
        .await
        .map_err(|e| format!("the discovery document at {url} could not be fetched ({e})"))?;
    if doc.status != 200 || doc.truncated {
        return Err(format!(
            "the discovery document at {url} answered HTTP {}",
            doc.status
        ));
    }
    parse_endpoints(&doc.body, &p.issuer)
}

/// What the login cookie carries from `/login` to the callback (sealed, ten minutes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Pending {
    /// Provider name.
    pub p: String,
    pub state: String,
    pub nonce: String,
    /// PKCE code verifier.
    pub v: String,
    /// Expiry (Unix seconds).
    pub e: u64,
    /// Where to go afterwards when not the account page (an allow-listed device page path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r: Option<String>,
}

/// Seconds a sign-in may take at the provider.
pub(crate) const PENDING_TTL: u64 = 600;

/// 32 random bytes as base64url (43 characters): states, nonces, verifiers, session ids.
pub(crate) fn random_text(bytes: &[u8; 32]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// S256 code challenge (RFC 7636 4.2).
pub(crate) fn code_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The authorization request URL.
pub(crate) fn authorization_url(
    p: &Provider,
    ep: &Endpoints,
    redirect_uri: &str,
    pending: &Pending,
) -> Result<String, String> {
    let mut url =
        url::Url::parse(&ep.authorization).map_err(|_| "authorization_endpoint is not a URL")?;
    let mut scope = String::from("openid");
    for s in &p.scopes {
        if s != "openid" {
            scope.push(' ');
            scope.push_str(s);
        }
    }
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &p.client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", &scope)
        .append_pair("state", &pending.state)
        .append_pair("nonce", &pending.nonce)
        .append_pair("code_challenge", &code_challenge(&pending.v))
        .append_pair("code_challenge_method", "S256");
    Ok(url.into())
}

/// Why sign-in failed. `Denied` is the person's (or an attacker's) fault; `Unavailable` the
/// provider's. Messages never hold a code, token or secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SignInError {
    Denied(String),
    Unavailable(String),
}

/// Into the token service's domain error, for the shared throttle: a denial counts as a failed
/// login, an unavailable provider or store does not.
impl From<SignInError> for crate::token_service::AuthError {
    fn from(e: SignInError) -> Self {
        match e {
            SignInError::Denied(m) => Self::Rejected(m),
            SignInError::Unavailable(m) => Self::Unavailable(m),
        }
    }
}

impl std::fmt::Display for SignInError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignInError::Denied(m) | SignInError::Unavailable(m) => f.write_str(m),
        }
    }
}

/// Exchanges the code for an ID token at the token endpoint (client authenticated with its
/// secret, PKCE verifier attached).
pub(crate) async fn exchange(
    p: &Provider,
    ep: &Endpoints,
    post: &impl Post,
    code: &str,
    verifier: &str,
    redirect_uri: &str,
) -> Result<String, SignInError> {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "authorization_code")
        .append_pair("code", code)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("code_verifier", verifier);
    let authorization = if p.secret_in_body() {
        form.append_pair("client_id", &p.client_id)
            .append_pair("client_secret", &p.client_secret);
        None
    } else {
        // RFC 6749 2.3.1: both parts form-urlencoded before base64.
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        Some(format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{}", enc(&p.client_id), enc(&p.client_secret)))
        ))
    };
    let body = form.finish();
    let resp = post
        .post_form(&ep.token, authorization.as_deref(), &body)
        .await
        .map_err(|e| {
            SignInError::Unavailable(format!(
                "the provider's token endpoint could not be reached ({e})"
            ))
        })?;
    let v: Value = crate::json_object::value(&resp.body).unwrap_or(Value::Null);
    if resp.status != 200 {
        // The OAuth error code is safe to show (invalid_grant for a replayed or expired code);
        // the description could echo input, so it is cut and filtered.
        let code: String = v
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect();
        let err = format!(
            "the provider refused the sign-in code (HTTP {}, {code}); sign in again",
            resp.status
        );
        return Err(if resp.status >= 500 {
            SignInError::Unavailable(err)
        } else {
            SignInError::Denied(err)
        });
    }
    v.get("id_token")
        .and_then(Value::as_str)
        .map(String::from)
        .ok_or_else(|| {
            SignInError::Unavailable("the provider's token response has no id_token".into())
        })
}

/// Verifies the ID token (federation's checks, then `nonce` and `azp`) and reads the person.
pub(crate) async fn verify_id_token(
    p: &Provider,
    id_token: &str,
    nonce: &str,
    cache: &RefCell<KeyCache>,
    fetch: &impl Fetch,
    now: u64,
) -> Result<Person, SignInError> {
    let issuers = Issuers::from_list(vec![p.issuer_config()])
        .map_err(|e| SignInError::Unavailable(e.to_string()))?;
    federation::authenticate(&issuers, OIDC_USERNAME, id_token, cache, fetch, now)
        .await
        .map_err(|e| match e.kind {
            federation::FailureKind::Unauthorized => {
                SignInError::Denied(format!("the ID token was refused: {}", e.message))
            }
            federation::FailureKind::Unavailable => SignInError::Unavailable(e.message),
        })?;
    // The signature verified above, so the payload can be read as it is: federation's Identity
    // flattens claims and drops arrays, and the groups claim is an array.
    let payload = id_token
        .split('.')
        .nth(1)
        .and_then(|s| URL_SAFE_NO_PAD.decode(s).ok())
        .and_then(|b| crate::json_object::value(&b).ok())
        .and_then(|v| match v {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .ok_or_else(|| SignInError::Denied("the ID token's payload is not a JSON object".into()))?;
    let got = payload.get("nonce").and_then(Value::as_str).unwrap_or("");
    if !constant_time_eq(got.as_bytes(), nonce.as_bytes()) {
        return Err(SignInError::Denied(
            "the ID token's nonce does not match this sign-in; sign in again".into(),
        ));
    }
    // OIDC Core 3.1.3.7: with several audiences, azp must name this client.
    if payload.get("aud").is_some_and(Value::is_array)
        && payload.get("azp").and_then(Value::as_str) != Some(p.client_id.as_str())
    {
        return Err(SignInError::Denied(
            "the ID token has several audiences but its azp is not this client".into(),
        ));
    }
    Person::from_claims(p, &payload).map_err(SignInError::Denied)
}
