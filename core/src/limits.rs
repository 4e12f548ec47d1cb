//! Input bounds. Every parser in the core checks one of these before doing work, so no request can
//! make Tollgate allocate or loop without bound.

/// Scopes accepted in one token request (after splitting space-separated values).
pub const MAX_SCOPES: usize = 32;
/// Bytes in one scope string (`type:name:actions`).
pub const MAX_SCOPE_LEN: usize = 512;
/// Bytes in a repository name, as distribution's reference grammar allows.
pub const MAX_REPOSITORY_NAME_LEN: usize = 255;
/// Actions in one scope.
pub const MAX_ACTIONS: usize = 8;
/// Bytes in a form body or query string of a token request.
pub const MAX_FORM_LEN: usize = 16 * 1024;
/// Bytes in an Authorization header.
pub const MAX_AUTHORIZATION_LEN: usize = 8 * 1024;
/// Bytes in a password or API key. bcrypt only reads 72, but we refuse absurd inputs early.
pub const MAX_PASSWORD_LEN: usize = 512;
/// Bytes in an account name.
pub const MAX_ACCOUNT_LEN: usize = 128;
/// Bytes in a JWT presented for verification.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;
