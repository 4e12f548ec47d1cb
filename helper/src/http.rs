//! The helper's only I/O with the network, behind a trait so the flow can be tested with a fake.
//!
//! Every request has a bounded connect time and a bounded total time, follows no redirect (a
//! credential is never sent to a place Tollgate's answer points at), and reads at most
//! [`MAX_BODY`] bytes of a body.

use std::io::Read as _;
use std::time::Duration;

use base64::Engine as _;

/// Answers larger than this are cut (Tollgate's are well under 4 KB).
pub const MAX_BODY: u64 = 64 * 1024;
/// How long to wait for a TCP/TLS connection: an unreachable Tollgate fails fast.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A status, a bounded body and the `WWW-Authenticate` fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    pub www_authenticate: Vec<String>,
}

/// A request that got no HTTP answer (refused, timed out, DNS, TLS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetError {
    pub reason: String,
}

impl std::fmt::Display for NetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

/// What the flow needs from HTTP. `timeout` bounds the whole exchange.
pub trait Transport {
    fn get(
        &self,
        url: &str,
        basic: Option<(&str, &str)>,
        timeout: Duration,
    ) -> Result<Reply, NetError>;
    fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<Reply, NetError>;
}

/// The real transport: ureq with rustls and the web PKI roots.
pub struct Ureq {
    agent: ureq::Agent,
}

impl Default for Ureq {
    fn default() -> Self {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(CONNECT_TIMEOUT)
            .redirects(0)
            .user_agent(concat!(
                "docker-credential-tollgate/",
                env!("CARGO_PKG_VERSION")
            ))
            .build();
        Ureq { agent }
    }
}

fn finish(result: Result<ureq::Response, ureq::Error>) -> Result<Reply, NetError> {
    let response = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(ureq::Error::Transport(t)) => {
            return Err(NetError {
                reason: transport_reason(&t),
            })
        }
    };
    let status = response.status();
    let www_authenticate = response
        .all("www-authenticate")
        .into_iter()
        .map(str::to_string)
        .collect();
    let mut body = Vec::new();
    response
        .into_reader()
        .take(MAX_BODY)
        .read_to_end(&mut body)
        .map_err(|e| NetError {
            reason: format!("reading the answer: {e}"),
        })?;
    Ok(Reply {
        status,
        body,
        www_authenticate,
    })
}

/// ureq's transport errors carry the URL; keep the kind and the cause (`connection refused`,
/// `timed out`, a TLS or DNS error), which say what to fix.
fn transport_reason(t: &ureq::Transport) -> String {
    let mut reason = t.kind().to_string();
    if let Some(cause) = std::error::Error::source(t) {
        reason = format!("{reason}: {cause}");
    } else if let Some(m) = t.message() {
        reason = format!("{reason}: {m}");
    }
    reason
}

impl Transport for Ureq {
    fn get(
        &self,
        url: &str,
        basic: Option<(&str, &str)>,
        timeout: Duration,
    ) -> Result<Reply, NetError> {
        let mut req = self.agent.get(url).timeout(timeout);
        if let Some((user, password)) = basic {
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            req = req.set("Authorization", &format!("Basic {encoded}"));
        }
        finish(req.call())
    }

    fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<Reply, NetError> {
        finish(self.agent.post(url).timeout(timeout).send_form(form))
    }
}
