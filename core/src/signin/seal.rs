//! Integrity-protected values for cookies and forms: `base64url(json).base64url(hmac)`.
//!
//! The HMAC key is derived per purpose from `SIGNIN_SESSION_KEY` (`HMAC(key, purpose)`), so a
//! login cookie can never be replayed as a session, nor a CSRF token as either. Every sealed
//! value carries its own expiry, checked after the MAC. Values are not encrypted: they hold
//! nothing secret from the browser that owns them (the PKCE verifier only helps whoever also
//! holds the one-time code, which the browser already sees).

use crate::credentials::constant_time_eq;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde::{de::DeserializeOwned, Serialize};
use sha2::Sha256;

/// Bytes of a sealed value: a browser keeps at most ~4 KB per cookie.
pub(crate) const MAX_SEALED_LEN: usize = 3800;

/// What a sealed value is for: each purpose has its own key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Session,
    Login,
    Csrf,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::Session => b"tollgate signin session v1",
            Purpose::Login => b"tollgate signin login v1",
            Purpose::Csrf => b"tollgate signin csrf v1",
        }
    }
}

fn mac(key: &[u8], data: &[&[u8]]) -> [u8; 32] {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    for d in data {
        m.update(d);
    }
    m.finalize().into_bytes().into()
}

/// The per-purpose keys.
#[derive(Clone)]
pub(crate) struct Sealer {
    session: [u8; 32],
    login: [u8; 32],
    csrf: [u8; 32],
}

impl Sealer {
    pub(crate) fn new(secret: &[u8]) -> Sealer {
        Sealer {
            session: mac(secret, &[Purpose::Session.label()]),
            login: mac(secret, &[Purpose::Login.label()]),
            csrf: mac(secret, &[Purpose::Csrf.label()]),
        }
    }

    fn key(&self, p: Purpose) -> &[u8; 32] {
        match p {
            Purpose::Session => &self.session,
            Purpose::Login => &self.login,
            Purpose::Csrf => &self.csrf,
        }
    }

    /// Seals `value`; `None` if it would not fit in a cookie.
    pub(crate) fn seal<T: Serialize>(&self, p: Purpose, value: &T) -> Option<String> {
        let body = URL_SAFE_NO_PAD.encode(crate::json_bytes::to_vec(value, 128).ok()?);
        let tag = URL_SAFE_NO_PAD.encode(mac(self.key(p), &[body.as_bytes()]));
        let out = format!("{body}.{tag}");
        (out.len() <= MAX_SEALED_LEN).then_some(out)
    }

    /// The value if the MAC verifies (constant time) and it parses; expiry is the caller's.
    pub(crate) fn open<T: DeserializeOwned>(&self, p: Purpose, sealed: &str) -> Option<T> {
        if sealed.len() > MAX_SEALED_LEN {
            return None;
        }
        let (body, tag) = sealed.split_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let want = mac(self.key(p), &[body.as_bytes()]);
        if !constant_time_eq(&tag, &want) {
            return None;
        }
        crate::json_object::from_slice(&URL_SAFE_NO_PAD.decode(body).ok()?).ok()
    }

    /// The CSRF token of a session: a MAC of its random id, so it needs no storage and dies with
    /// the session.
    pub(crate) fn csrf_token(&self, session_id: &str) -> String {
        URL_SAFE_NO_PAD.encode(mac(&self.csrf, &[session_id.as_bytes()]))
    }

    pub(crate) fn csrf_ok(&self, session_id: &str, presented: &str) -> bool {
        constant_time_eq(self.csrf_token(session_id).as_bytes(), presented.as_bytes())
    }
}

/// `Set-Cookie` for `name=value`, HttpOnly and SameSite=Lax always, Secure unless local http.
/// `max_age` 0 deletes the cookie.
pub(crate) fn set_cookie(
    name: &str,
    value: &str,
    path: &str,
    max_age: u64,
    secure: bool,
) -> String {
    format!(
        "{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The value of cookie `name` in a `Cookie` header. Cookie names and our values are plain
/// tokens (no quoting), so splitting on `;` and the first `=` is the whole grammar (RFC 6265 4.2).
/// A name sent twice is ambiguous (a sibling subdomain could plant one): treated as absent.
pub(crate) fn cookie<'a>(header: Option<&'a str>, name: &str) -> Option<&'a str> {
    let mut found = None;
    for pair in header?.split(';') {
        let Some((k, v)) = pair.trim().split_once('=') else {
            continue;
        };
        if k == name {
            if found.is_some() {
                return None;
            }
            found = Some(v);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct V {
        a: String,
    }

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_purpose() {
        let s = Sealer::new(b"0123456789abcdef0123456789abcdef");
        let v = V { a: "alice".into() };
        let sealed = s.seal(Purpose::Session, &v).unwrap();
        assert_eq!(s.open::<V>(Purpose::Session, &sealed), Some(v));
        assert_eq!(s.open::<V>(Purpose::Login, &sealed), None, "other purpose");
        let other = Sealer::new(b"another key of thirty-two bytes!!");
        assert_eq!(other.open::<V>(Purpose::Session, &sealed), None);
    }

    #[test]
    fn tampered_values_do_not_open() {
        let s = Sealer::new(b"0123456789abcdef0123456789abcdef");
        let sealed = s.seal(Purpose::Session, &V { a: "alice".into() }).unwrap();
        let (body, tag) = sealed.split_once('.').unwrap();
        let forged = URL_SAFE_NO_PAD.encode(br#"{"a":"admin"}"#);
        assert_eq!(
            s.open::<V>(Purpose::Session, &format!("{forged}.{tag}")),
            None
        );
        assert_eq!(s.open::<V>(Purpose::Session, body), None, "no tag");
        assert_eq!(s.open::<V>(Purpose::Session, &format!("{body}.")), None);
        assert_eq!(s.open::<V>(Purpose::Session, &"x".repeat(5000)), None);
    }

    #[test]
    fn csrf_tokens_are_bound_to_the_session() {
        let s = Sealer::new(b"0123456789abcdef0123456789abcdef");
        let t = s.csrf_token("sid-1");
        assert!(s.csrf_ok("sid-1", &t));
        assert!(!s.csrf_ok("sid-2", &t));
        assert!(!s.csrf_ok("sid-1", ""));
    }

    proptest::proptest! {
        /// Whatever a browser (or attacker) sends as a cookie opens to nothing and never panics;
        /// a value sealed for one purpose opens only for it, with every single-byte change refused.
        #[test]
        fn arbitrary_cookies_never_open_or_panic(raw in ".{0,300}", header in ".{0,300}", flip in 0usize..200) {
            let s = Sealer::new(b"0123456789abcdef0123456789abcdef");
            proptest::prop_assert_eq!(s.open::<V>(Purpose::Session, &raw), None);
            let _ = cookie(Some(&header), "tg_session");
            let sealed = s.seal(Purpose::Login, &V { a: raw.clone() }).unwrap();
            proptest::prop_assert_eq!(s.open::<V>(Purpose::Login, &sealed), Some(V { a: raw }));
            let mut bytes = sealed.into_bytes();
            let i = flip % bytes.len();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            if let Ok(changed) = String::from_utf8(bytes) {
                proptest::prop_assert_eq!(s.open::<V>(Purpose::Login, &changed), None);
            }
        }
    }

    #[test]
    fn cookies_parse_and_render() {
        assert_eq!(cookie(Some("a=1; tg=xyz; b=2"), "tg"), Some("xyz"));
        assert_eq!(cookie(Some("a=1"), "tg"), None);
        assert_eq!(
            cookie(Some("tg=1; tg=2"), "tg"),
            None,
            "duplicate is ambiguous"
        );
        assert_eq!(cookie(None, "tg"), None);
        let c = set_cookie("tg", "v", "/", 60, true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.contains("Secure"));
        assert!(!set_cookie("tg", "v", "/", 60, false).contains("Secure"));
    }
}
