//! Shared by the helper's and the CLI's binary tests (included with `#[path]`): an address where
//! no Tollgate answers, and the one-line failure both binaries must give there.

/// `http://127.0.0.1:PORT` for a port nobody listens on (bound, then released).
fn unreachable_tollgate_url() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}")
}

/// Runs a binary once through `run(config_dir, env)`, with TOLLGATE_URL in `env` pointing where no
/// Tollgate answers, and asserts that it exits 1 saying so in one line: `prefix` (the binary's
/// own), then `tollgate: cannot reach Tollgate at URL: ` and the cause. `run` returns the exit
/// code and where the binary reports failures (stderr, or stdout for a credential helper).
#[track_caller]
pub(crate) fn fails_in_one_line_when_unreachable(
    prefix: &str,
    run: impl FnOnce(&std::path::Path, &[(&str, &str)]) -> (Option<i32>, String),
) {
    let dir = tempfile::tempdir().unwrap();
    let url = unreachable_tollgate_url();
    let (code, said) = run(dir.path(), &[("TOLLGATE_URL", &url)]);
    assert_eq!(code, Some(1), "{said}");
    let start = format!("{prefix}tollgate: cannot reach Tollgate at {url}: ");
    assert!(said.starts_with(&start), "{said}");
    assert_eq!(said.lines().count(), 1, "{said}");
}
