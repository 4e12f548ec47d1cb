//! Shared by the helper's and the CLI's binary tests (included with `#[path]`): an address where
//! no Tollgate answers.

/// `http://127.0.0.1:PORT` for a port nobody listens on (bound, then released).
pub(crate) fn unreachable_tollgate_url() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}")
}
