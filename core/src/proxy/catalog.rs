//! `GET /v2/_catalog` filtered to the caller (issue 16).
//!
//! The registry answers the catalog only to `registry:catalog:*` and then lists everything. A
//! caller without that right (a valid token or valid Basic credentials) gets, instead of a 401,
//! the repositories it may pull: Tollgate reads the origin's catalog page by page, keeps the names
//! the ACL lets the caller pull, and answers in the registry's own format with distribution's
//! pagination (`n`, `last`, `Link: </v2/_catalog?last=..&n=..>; rel="next"`).
//!
//! Pagination stays correct while entries are filtered out because the cursor is always a name of
//! the origin's (lexically ordered) catalog: the last name returned when the page is full, or the
//! last name examined when the scan stopped at its bound ([`MAX_ORIGIN_PAGES`]). The client's next
//! request resumes the scan after it, so no visible name is skipped or repeated. A `Link` may
//! lead to an empty page when only hidden names remain; that is still a correct end.
//!
//! Sans-I/O: [`CatalogScan`] says which origin page to fetch next and is fed the bodies; the
//! worker does the fetching (src/catalog.rs).

use super::authorize::error_response;
use super::gate::Decision;
use crate::protocol::HttpResponse;
use serde::Deserialize;
use serde_json::{json, Value};
use std::fmt;

/// Entries per answer when the client gives no `n`, and the most it may ask for (distribution's
/// `catalog.maxentries` default).
pub(crate) const MAX_CATALOG_N: usize = 1000;
/// Entries asked of the origin per page (docker-registry's default maximum).
pub(crate) const ORIGIN_PAGE_N: usize = 1000;
/// Origin pages read for one client request at most: bounds the work a caller with few visible
/// repositories can cause. Beyond it the answer carries what was found and a `Link` to continue.
pub(crate) const MAX_ORIGIN_PAGES: usize = 8;
/// Bytes of one origin catalog page read at most (1000 names of 255 bytes, quoted, plus room).
pub const MAX_ORIGIN_PAGE_BYTES: usize = 512 * 1024;

/// The client's pagination parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogQuery {
    pub n: usize,
    pub last: Option<String>,
}

/// A query distribution would refuse: 400 `PAGINATION_NUMBER_INVALID`.
pub(crate) fn parse_query(query: &str) -> Result<CatalogQuery, HttpResponse> {
    let mut q = CatalogQuery {
        n: MAX_CATALOG_N,
        last: None,
    };
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "n" => {
                q.n = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n <= MAX_CATALOG_N)
                    .ok_or_else(|| {
                        error_response(
                            400,
                            "PAGINATION_NUMBER_INVALID",
                            &format!("n must be an integer from 0 to {MAX_CATALOG_N}"),
                            Value::Null,
                        )
                    })?
            }
            "last" if !v.is_empty() && v.len() <= crate::limits::MAX_REPOSITORY_NAME_LEN => {
                q.last = Some(v.into_owned())
            }
            _ => {}
        }
    }
    Ok(q)
}

/// The gate's decision for a catalog request from `subject` (`""`: anonymous token) without
/// `registry:catalog:*`.
pub fn filtered(subject: &str, query: &str) -> Decision {
    match parse_query(query) {
        Ok(query) => Decision::FilteredCatalog {
            subject: subject.to_string(),
            query,
        },
        Err(response) => Decision::Refuse {
            response: Box::new(response),
            reason: "catalog_query",
        },
    }
}

#[derive(Deserialize)]
struct OriginPage {
    #[serde(default)]
    repositories: Vec<String>,
}

/// Why the scan could not go on: the shell answers 502.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginPageError {
    /// Longer than `MAX_ORIGIN_PAGE_BYTES`.
    TooLarge,
    /// Not the distribution catalog JSON.
    NotJson,
}

impl fmt::Display for OriginPageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OriginPageError::TooLarge => "origin catalog page too large",
            OriginPageError::NotJson => "origin catalog page is not JSON",
        })
    }
}

/// One filtered catalog answer being assembled.
#[derive(Debug)]
pub struct CatalogScan {
    want: usize,
    /// The last origin name examined: where the next origin page starts.
    cursor: Option<String>,
    found: Vec<String>,
    pages: usize,
    done: bool,
    /// Link to the next client page after this name.
    next: Option<String>,
}

impl CatalogScan {
    pub fn new(q: &CatalogQuery) -> Self {
        CatalogScan {
            want: q.n,
            cursor: q.last.clone(),
            found: Vec::new(),
            pages: 0,
            done: q.n == 0,
            next: None,
        }
    }

    /// The origin query for the next page, or `None` when the answer is complete.
    pub fn next_origin_query(&self) -> Option<String> {
        if self.done {
            return None;
        }
        let mut s = form_urlencoded::Serializer::new(String::new());
        if let Some(c) = &self.cursor {
            s.append_pair("last", c);
        }
        s.append_pair("n", &ORIGIN_PAGE_N.to_string());
        Some(s.finish())
    }

    /// Feeds one origin page (`has_next`: the origin sent a `Link` rel="next"). `visible` says
    /// whether the caller may pull a repository.
    pub fn feed(
        &mut self,
        body: &[u8],
        has_next: bool,
        visible: impl Fn(&str) -> bool,
    ) -> Result<(), OriginPageError> {
        if body.len() > MAX_ORIGIN_PAGE_BYTES {
            return Err(OriginPageError::TooLarge);
        }
        let page: OriginPage =
            crate::json_object::from_slice(body).map_err(|_| OriginPageError::NotJson)?;
        self.pages += 1;
        let before = self.cursor.clone();
        for name in page.repositories {
            if before.as_deref().is_some_and(|b| name.as_str() <= b) {
                // An origin that ignored `last` must not make us loop or repeat names.
                continue;
            }
            if visible(&name) {
                if self.found.len() == self.want {
                    // One more visible name exists: the page is full, continue after its last.
                    self.next = self.found.last().cloned();
                    self.done = true;
                    return Ok(());
                }
                self.found.push(name.clone());
            }
            self.cursor = Some(name);
        }
        if !has_next || self.cursor == before {
            self.done = true;
        } else if self.pages >= MAX_ORIGIN_PAGES {
            // Bounded: hand the client the scan position so it goes on from there.
            self.next = self.cursor.clone();
            self.done = true;
        }
        Ok(())
    }

    /// The answer in distribution's format, with `Link` when there may be more.
    pub fn response(&self) -> HttpResponse {
        let mut resp = HttpResponse::json(200, &json!({"repositories": self.found}))
            .with_header("docker-distribution-api-version", "registry/2.0");
        if let Some(last) = &self.next {
            let q = form_urlencoded::Serializer::new(String::new())
                .append_pair("last", last)
                .append_pair("n", &self.want.to_string())
                .finish();
            resp = resp.with_header("link", format!("</v2/_catalog?{q}>; rel=\"next\""));
        }
        resp
    }

    #[cfg(test)]
    pub(crate) fn pages_read(&self) -> usize {
        self.pages
    }
}

#[cfg(test)]
mod tests;
