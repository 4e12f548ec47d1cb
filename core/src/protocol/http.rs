//! Plain HTTP request/response values exchanged between a shell (the worker) and the core.
//! No `worker` types, so the whole flow is testable natively.

use std::borrow::Cow;

/// An incoming request, already bounded by the shell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpRequest {
    /// Upper-case method, e.g. `GET`.
    pub method: String,
    /// The URL path, e.g. `/token` (percent-encoding left as received).
    pub path: String,
    /// The raw query string without the leading `?` (empty when absent).
    pub query: String,
    /// Header names in lower case; values as received.
    pub headers: Vec<(String, String)>,
    /// The body, at most `limits::MAX_FORM_LEN` bytes.
    pub body: Vec<u8>,
    /// The shell stopped reading because the body was longer than `limits::MAX_FORM_LEN`:
    /// the core answers 413 in the endpoint's error format.
    pub body_too_large: bool,
}

impl HttpRequest {
    /// A request with no headers or body, for tests and simple shells.
    #[cfg(any(test, feature = "testing"))]
    pub fn new(method: &str, path: &str, query: &str) -> Self {
        Self {
            method: method.to_string(),
            path: path.to_string(),
            query: query.to_string(),
            ..Self::default()
        }
    }

    /// Adds a header (the name is lower-cased).
    #[cfg(any(test, feature = "testing"))]
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_string()));
        self
    }

    /// Sets the body.
    #[cfg(any(test, feature = "testing"))]
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        #[cfg(test)]
        note_header_read(name);
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// How many times header `name` occurs (a repeated Authorization header is refused).
    pub(crate) fn header_count(&self, name: &str) -> usize {
        #[cfg(test)]
        note_header_read(name);
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }
}

#[cfg(test)]
thread_local! {
    /// Every request header name read on this thread, lower case: the token service's tests
    /// check it against `TOKEN_REQUEST_HEADERS`, the set a shell may hand it.
    pub(crate) static HEADERS_READ: std::cell::RefCell<std::collections::BTreeSet<String>> =
        const { std::cell::RefCell::new(std::collections::BTreeSet::new()) };
}

#[cfg(test)]
fn note_header_read(name: &str) {
    HEADERS_READ.with(|read| read.borrow_mut().insert(name.to_ascii_lowercase()));
}

/// A response header's name or value: most are constants (`content-type`, `no-store`), which
/// a response holds without allocating; the rest are built per response.
pub type HeaderText = Cow<'static, str>;

/// An outgoing response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(HeaderText, HeaderText)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A JSON response; `no-store` because token responses carry credentials (RFC 6749 5.1).
    pub(crate) fn json<T: serde::Serialize + ?Sized>(status: u16, value: &T) -> Self {
        // serde_json::to_vec's own starting capacity.
        Self::json_sized(status, value, 128)
    }

    /// [`HttpResponse::json`] into a body of `capacity` bytes to start with: a token response
    /// (the JWT twice, ~2.5 KB) otherwise grows its buffer five times from 128 bytes, copying
    /// what it holds each time.
    pub(crate) fn json_sized<T: serde::Serialize + ?Sized>(
        status: u16,
        value: &T,
        capacity: usize,
    ) -> Self {
        let body = crate::json_bytes::to_vec(value, capacity).unwrap_or_else(|_| b"{}".to_vec());
        Self {
            status,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("cache-control".into(), "no-store".into()),
            ],
            body,
        }
    }

    /// A plain body with the given content type.
    pub(crate) fn text(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.into(),
        }
    }

    /// Adds a header.
    pub(crate) fn with_header(mut self, name: &str, value: impl Into<HeaderText>) -> Self {
        self.headers
            .push((name.to_ascii_lowercase().into(), value.into()));
        self
    }

    /// The first value of header `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }

    /// The body parsed as JSON (tests and shells that need to look inside).
    #[cfg(any(test, feature = "testing"))]
    pub fn json_body(&self) -> Option<serde_json::Value> {
        crate::json_object::value(&self.body).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_case_insensitive() {
        let r = HttpRequest::new("GET", "/token", "").with_header("Authorization", "Basic x");
        assert_eq!(r.header("authorization"), Some("Basic x"));
        assert_eq!(r.header("AUTHORIZATION"), Some("Basic x"));
        assert_eq!(r.header_count("authorization"), 1);
        assert_eq!(r.header("x-missing"), None);
    }

    #[test]
    fn sized_json_is_the_same_json() {
        let v = serde_json::json!({"token": "a.b.c", "n": [1, 2]});
        let small = HttpResponse::json_sized(200, &v, 1);
        assert_eq!(small, HttpResponse::json(200, &v));
        assert_eq!(small.body, serde_json::to_vec(&v).unwrap());
    }

    #[test]
    fn json_response_is_not_cacheable() {
        let r = HttpResponse::json(200, &serde_json::json!({"a": 1}));
        assert_eq!(r.header("Cache-Control"), Some("no-store"));
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.json_body().unwrap()["a"], 1);
    }
}
