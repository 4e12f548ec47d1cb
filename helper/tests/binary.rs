//! The built `docker-credential-tollgate` binary (real ureq transport, real files) against a small
//! fake registry + Tollgate on a loopback std::net listener.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "support/unreachable.rs"]
mod unreachable;
use unreachable::fails_in_one_line_when_unreachable;

/// How the fake answers `POST /token` polls.
#[derive(Clone, Copy)]
enum Token {
    /// `authorization_pending` this many times, then the credential.
    ApproveAfter(usize),
    /// Accept the connection and never answer.
    Hang,
}

struct Fake {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
}

fn start(token: Token, expires_in: u64) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        let mut polls = 0;
        for stream in listener.incoming().flatten() {
            let Some((line, headers, body)) = read_request(&stream) else {
                continue;
            };
            log.lock().unwrap().push(format!(
                "{line} auth={} body={body}",
                headers.get("authorization").cloned().unwrap_or_default()
            ));
            let base = format!("http://127.0.0.1:{port}");
            let (status, extra, json) = if line.starts_with("GET /v2/ ") {
                (
                    401,
                    format!("WWW-Authenticate: Bearer realm=\"{base}/token\",service=\"registry.local\"\r\n"),
                    "{}".to_string(),
                )
            } else if line.starts_with("POST /device/code ") {
                (
                    200,
                    String::new(),
                    format!(
                        r#"{{"device_code":"dc-1","user_code":"BCDF-GHJK","verification_uri":"{base}/device","verification_uri_complete":"{base}/device?user_code=BCDF-GHJK","expires_in":{expires_in},"interval":1}}"#
                    ),
                )
            } else if line.starts_with("POST /token ") {
                polls += 1;
                match token {
                    Token::Hang => {
                        std::thread::spawn(move || {
                            std::thread::sleep(Duration::from_secs(60));
                            drop(stream);
                        });
                        continue;
                    }
                    Token::ApproveAfter(n) if polls <= n => (
                        400,
                        String::new(),
                        r#"{"error":"authorization_pending"}"#.to_string(),
                    ),
                    Token::ApproveAfter(_) => (
                        200,
                        String::new(),
                        format!(
                            r#"{{"token_type":"Bearer","access_token":"t","expires_in":300,"username":"sso-alice","password":"tgp_fromfake","password_expires_at":{},"service":"registry.local"}}"#,
                            now() + 3600
                        ),
                    ),
                }
            } else if line.starts_with("GET /token?service=registry.local ") {
                (200, String::new(), r#"{"token":"t"}"#.to_string())
            } else {
                (404, String::new(), "{}".to_string())
            };
            let mut s = stream;
            let _ = write!(
                s,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{json}",
                json.len()
            );
        }
    });
    Fake { port, seen }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Request line, lower-cased headers, body (by Content-Length).
fn read_request(stream: &TcpStream) -> Option<(String, HashMap<String, String>, String)> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some((
        line.trim_end().to_string(),
        headers,
        String::from_utf8_lossy(&body).into_owned(),
    ))
}

fn helper(config: &std::path::Path, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_docker-credential-tollgate"));
    cmd.args(args)
        .env_clear()
        .env("XDG_CONFIG_HOME", config)
        .env("TOLLGATE_INTERACTIVE", "always")
        .env("TOLLGATE_NO_BROWSER", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// When the test runs without a controlling terminal, the instruction goes to stderr.
fn no_tty() -> bool {
    std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/tty")
        .is_err()
}

#[test]
fn get_runs_the_device_flow_then_serves_the_cache() {
    let fake = start(Token::ApproveAfter(2), 60);
    let dir = tempfile::tempdir().unwrap();
    let host = format!("127.0.0.1:{}", fake.port);
    let out = helper(dir.path(), &["get"], &host, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout {} stderr {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(
        text(&out.stdout),
        format!(r#"{{"ServerURL":"{host}","Username":"sso-alice","Secret":"tgp_fromfake"}}"#)
    );
    if no_tty() {
        let err = text(&out.stderr);
        assert!(
            err.contains(&format!(
                "To sign in to {host}, open http://{host}/device?user_code=BCDF-GHJK and check the code BCDF-GHJK (valid 1 min)."
            )),
            "{err}"
        );
        assert!(!err.contains("tgp_fromfake"));
    }
    let seen = fake.seen.lock().unwrap().clone();
    assert!(seen[0].starts_with("GET /v2/ "), "{seen:?}");
    assert!(
        seen[1].ends_with("body=client_id=docker-credential-tollgate&service=registry.local"),
        "{seen:?}"
    );
    assert!(
        seen[2].contains(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code=dc-1"
        ),
        "{seen:?}"
    );
    assert_eq!(seen.len(), 5, "{seen:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let file = dir
            .path()
            .join(format!("tollgate/credentials/127.0.0.1_{}.json", fake.port));
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // Second get: one Basic check at Tollgate, no new approval.
    let out = helper(
        dir.path(),
        &["get"],
        &host,
        &[("TOLLGATE_INTERACTIVE", "never")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let seen = fake.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 6, "{seen:?}");
    // base64("sso-alice:tgp_fromfake")
    assert!(
        seen[5].contains("auth=Basic c3NvLWFsaWNlOnRncF9mcm9tZmFrZQ=="),
        "{seen:?}"
    );
    let out = helper(dir.path(), &["list"], "", &[]);
    assert_eq!(text(&out.stdout), format!(r#"{{"{host}":"sso-alice"}}"#));
    let out = helper(dir.path(), &["erase"], &host, &[]);
    assert_eq!(out.status.code(), Some(0));
    let out = helper(
        dir.path(),
        &["get"],
        &host,
        &[("TOLLGATE_INTERACTIVE", "never")],
    );
    assert_eq!(
        (out.status.code(), text(&out.stdout).as_str()),
        (Some(1), "credentials not found in native keychain\n")
    );
}

#[test]
fn nothing_hangs_past_the_codes_expiry() {
    // Tollgate hands out a 3-second code, then never answers a poll.
    let fake = start(Token::Hang, 3);
    let dir = tempfile::tempdir().unwrap();
    let host = format!("127.0.0.1:{}", fake.port);
    let started = Instant::now();
    let out = helper(dir.path(), &["get"], &host, &[]);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(1));
    let msg = text(&out.stdout);
    assert!(
        msg.contains("expired after 3 s") || msg.contains("cannot reach Tollgate"),
        "{msg}"
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[test]
fn unreachable_tollgate_and_refused_store() {
    fails_in_one_line_when_unreachable("", |config, env| {
        let out = helper(config, &["get"], "registry.example.com", env);
        (out.status.code(), text(&out.stdout))
    });
    let dir = tempfile::tempdir().unwrap();
    let out = helper(
        dir.path(),
        &["store"],
        r#"{"ServerURL":"r","Username":"u","Secret":"hunter2"}"#,
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(!text(&out.stdout).contains("hunter2"));
    let out = helper(dir.path(), &["bogus"], "", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout)
        .contains("usage: docker-credential-tollgate get|store|erase|list|version"));
}
