//! Input bounds. Every parser in the core checks one of these before doing work, so no request can
//! make Tollgate allocate or loop without bound.

/// Scopes accepted in one token request (after splitting space-separated values).
pub const MAX_SCOPES: usize = 32;
/// Bytes in one scope string (`type:name:actions`).
pub const MAX_SCOPE_LEN: usize = 512;
/// Bytes in a repository name, as distribution's reference grammar allows.
pub(crate) const MAX_REPOSITORY_NAME_LEN: usize = 255;
/// Actions in one scope.
pub const MAX_ACTIONS: usize = 8;
/// Bytes in a form body or query string of a token request.
pub const MAX_FORM_LEN: usize = 16 * 1024;
/// Bytes in an Authorization header.
pub(crate) const MAX_AUTHORIZATION_LEN: usize = 8 * 1024;
/// Bytes in a password or API key. bcrypt only reads 72, but we refuse absurd inputs early.
pub(crate) const MAX_PASSWORD_LEN: usize = 512;
/// Bytes in an account name.
pub const MAX_ACCOUNT_LEN: usize = 128;
/// Header fields in one request. A request with more is refused with 431, never trimmed: a
/// trimmed set could lose `CF-Connecting-IP` (the throttle's address) or `Authorization`.
/// Clients send about 10, Cloudflare adds about 10.
pub(crate) const MAX_REQUEST_HEADERS: usize = 100;
/// Bytes in a JWT presented for verification.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;
/// Clock skew tolerated on every token's exp, nbf and iat (registry tokens, identity tokens,
/// sign-in ID tokens; `time_claims.rs`), the fixed 60 s docker-registry allows too.
pub const CLOCK_LEEWAY_SECS: u64 = 60;

// ---- Workload identity federation (core/src/federation) ----

/// Bytes in an OIDC identity token presented as a password. GitHub's are ~1-1.5 KiB and
/// Kubernetes' ~1 KiB; 8 KiB leaves room for large claim sets without letting a request make us
/// base64-decode and parse megabytes.
pub const MAX_IDENTITY_TOKEN_LEN: usize = 8 * 1024;
/// Trusted issuers in the KV `issuers` record.
pub(crate) const MAX_ISSUERS: usize = 16;
/// Bytes of the KV `issuers` record, checked before parsing.
pub(crate) const MAX_ISSUERS_BYTES: usize = 64 * 1024;
/// Accepted audiences per issuer.
pub(crate) const MAX_AUDIENCES: usize = 8;
/// Bytes in an issuer URL, an audience or a JWKS URI.
pub(crate) const MAX_ISSUER_URL_LEN: usize = 512;
/// Bytes of a discovery document or JWK Set fetched from an issuer.
pub const MAX_OIDC_DOCUMENT_BYTES: usize = 64 * 1024;
/// Usable keys kept from one JWK Set (GitHub publishes 2-4, a Kubernetes cluster 1-2).
pub(crate) const MAX_JWKS_KEYS: usize = 16;
/// Flattened claims kept from one identity token; a token with more is refused.
pub(crate) const MAX_CLAIMS: usize = 64;
/// Bytes of one claim value; longer values are dropped (no rule can match them).
pub(crate) const MAX_CLAIM_VALUE_LEN: usize = 512;
/// Default longest identity-token lifetime (exp - iat) accepted: 65 minutes, so Kubernetes'
/// default projected service-account token (3607 s) and GitHub's (~5-10 min) fit.
pub(crate) const DEFAULT_MAX_IDENTITY_LIFETIME: u64 = 3900;
/// Upper bound an operator may configure as `max_lifetime`.
pub(crate) const MAX_IDENTITY_LIFETIME: u64 = 24 * 3600;
/// Bounds on how long fetched issuer keys are trusted: the origin's max-age clamped to this range
/// (default when the origin sends none: `JWKS_DEFAULT_TTL`).
pub(crate) const JWKS_MIN_TTL: u64 = 60;
pub(crate) const JWKS_MAX_TTL: u64 = 3600;
pub(crate) const JWKS_DEFAULT_TTL: u64 = 300;
/// Seconds between two JWK Set refetches caused by an unknown `kid`, per issuer and isolate
/// (the first fetch and fetches after the keys' lifetime ended do not count).
pub(crate) const JWKS_REFETCH_INTERVAL: u64 = 30;
/// Seconds a failed fetch of an issuer's documents is remembered per isolate: no new attempt (and
/// the same 503 at once) until then, so a flood of tokens naming a down issuer cannot make us ask
/// it again and again.
pub(crate) const JWKS_FAILURE_TTL: u64 = 15;
/// Seconds past their lifetime that an issuer's last good keys are still served while fetching
/// new ones fails. Bounds how long a key the issuer removed stays trusted during an outage.
pub(crate) const JWKS_STALE_GRACE: u64 = 3600;
/// Times a request checks whether another request's fetch of the same issuer's documents has
/// ended, one `Fetch::pause` (100 ms in the worker) apart: 10 s, twice the fetch timeout.
pub(crate) const KEY_WAIT_POLLS: u32 = 100;
/// Seconds the worker waits for an issuer's discovery document or JWK Set.
pub const FETCH_TIMEOUT_SECS: u64 = 5;
