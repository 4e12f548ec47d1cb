//! The flow against a scripted Tollgate and registry, a fake clock and a recording terminal.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use super::*;
use crate::app::{self, Outcome};
use crate::protocol::Action;

const REG: &str = "127.0.0.1:5000";
const TG: &str = "http://127.0.0.1:8787";
const CHALLENGE: &str = r#"Bearer realm="http://127.0.0.1:8787/token",service="registry.local""#;

/// One scripted answer (or a network failure) per request, in order; every request recorded.
#[derive(Default)]
struct Fake {
    answers: RefCell<VecDeque<Result<Reply, NetError>>>,
    requests: RefCell<Vec<String>>,
    /// The clock's time of each request.
    times: RefCell<Vec<u64>>,
    clock: FakeClock,
}

impl Fake {
    fn answer(&self, status: u16, body: &str) -> &Self {
        self.answers.borrow_mut().push_back(Ok(Reply {
            status,
            body: body.as_bytes().to_vec(),
            www_authenticate: vec![],
        }));
        self
    }
    fn challenge(&self) -> &Self {
        self.answers.borrow_mut().push_back(Ok(Reply {
            status: 401,
            body: vec![],
            www_authenticate: vec![CHALLENGE.into()],
        }));
        self
    }
    fn fail(&self) -> &Self {
        self.answers.borrow_mut().push_back(Err(NetError {
            reason: "connection refused".into(),
        }));
        self
    }
    fn code(&self, expires_in: u64, interval: u64) -> &Self {
        self.answer(
            200,
            &format!(
                r#"{{"device_code":"dc-1","user_code":"BCDF-GHJK","verification_uri":"{TG}/device",
                "verification_uri_complete":"{TG}/device?user_code=BCDF-GHJK","expires_in":{expires_in},"interval":{interval}}}"#
            ),
        )
    }
    fn poll_error(&self, error: &str) -> &Self {
        self.answer(400, &format!(r#"{{"error":"{error}"}}"#))
    }
    fn granted(&self, password: &str) -> &Self {
        let expires = self.clock.now.get() + 8 * 3600;
        self.answer(
            200,
            &format!(
                r#"{{"token_type":"Bearer","access_token":"t","expires_in":300,"username":"sso-alice",
                "password":"{password}","password_expires_at":{expires},"service":"registry.local"}}"#
            ),
        )
    }
    fn next(&self, line: String) -> Result<Reply, NetError> {
        self.requests.borrow_mut().push(line);
        self.times.borrow_mut().push(self.clock.now.get());
        self.answers
            .borrow_mut()
            .pop_front()
            .unwrap_or_else(|| panic!("no answer scripted for {:?}", self.requests.borrow().last()))
    }
    fn requests(&self) -> Vec<String> {
        self.requests.borrow().clone()
    }
}

impl Transport for Fake {
    fn get(&self, url: &str, basic: Option<(&str, &str)>, _: Duration) -> Result<Reply, NetError> {
        let who = basic
            .map(|(u, p)| format!(" as {u}:{p}"))
            .unwrap_or_default();
        self.next(format!("GET {url}{who}"))
    }
    fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<Reply, NetError> {
        assert!(timeout <= REQUEST_TIMEOUT);
        let body: Vec<String> = form.iter().map(|(k, v)| format!("{k}={v}")).collect();
        self.next(format!("POST {url} {}", body.join("&")))
    }
}

#[derive(Default)]
struct FakeClock {
    now: Cell<u64>,
    slept: RefCell<Vec<u64>>,
}

impl Clock for FakeClock {
    fn now(&self) -> u64 {
        self.now.get()
    }
    fn sleep(&self, seconds: u64) {
        self.slept.borrow_mut().push(seconds);
        self.now.set(self.now.get() + seconds);
    }
}

#[derive(Default)]
struct Screen {
    lines: RefCell<Vec<String>>,
    opened: RefCell<Vec<String>>,
}

impl Ui for Screen {
    fn show(&self, line: &str) {
        self.lines.borrow_mut().push(line.to_string());
    }
    fn open_browser(&self, url: &str) {
        self.opened.borrow_mut().push(url.to_string());
    }
}

struct World {
    fake: Fake,
    screen: Screen,
    cache: CacheDir,
    config: Config,
    _dir: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let fake = Fake::default();
        fake.clock.now.set(1_000_000);
        World {
            fake,
            screen: Screen::default(),
            cache: CacheDir::new(dir.path().join("tollgate/credentials")),
            config: Config::default(),
            _dir: dir,
        }
    }
    /// A world whose cache holds `password`, obtained through a first approval.
    fn signed_in(password: &str) -> World {
        let w = World::new();
        w.fake.challenge().code(600, 1).granted(password);
        w.get(true).unwrap();
        w
    }
    fn client(&self) -> Client<'_> {
        Client {
            transport: &self.fake,
            clock: &self.fake.clock,
            ui: &self.screen,
            cache: &self.cache,
            config: &self.config,
            client_id: HELPER_CLIENT_ID,
        }
    }
    fn host(&self) -> RegistryHost {
        RegistryHost::parse(REG).unwrap()
    }
    fn get(&self, interactive: bool) -> Result<Cached, Error> {
        self.client().get(&self.host(), interactive)
    }
    fn lines(&self) -> Vec<String> {
        self.screen.lines.borrow().clone()
    }
}

#[test]
fn first_get_runs_the_device_flow_and_honours_slow_down() {
    let w = World::new();
    w.fake
        .challenge()
        .code(600, 5)
        .poll_error("authorization_pending")
        .poll_error("slow_down")
        .poll_error("authorization_pending")
        .granted("tgp_secret1");
    let c = w.get(true).unwrap();
    assert_eq!(
        (c.username.as_str(), c.password.expose()),
        ("sso-alice", "tgp_secret1")
    );
    assert_eq!(c.tollgate, TG);
    assert_eq!(c.service.as_deref(), Some("registry.local"));
    let r = w.fake.requests();
    assert_eq!(r[0], "GET http://127.0.0.1:5000/v2/");
    assert_eq!(
        r[1],
        "POST http://127.0.0.1:8787/device/code client_id=docker-credential-tollgate&service=registry.local"
    );
    assert_eq!(
        r[2],
        "POST http://127.0.0.1:8787/token grant_type=urn:ietf:params:oauth:grant-type:device_code&device_code=dc-1&client_id=docker-credential-tollgate"
    );
    assert_eq!(r.len(), 6);
    // 5 s before each poll, 10 s after the slow_down (RFC 8628 3.5).
    assert_eq!(*w.fake.clock.slept.borrow(), vec![5, 5, 10, 10]);
    let lines = w.lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("To sign in to 127.0.0.1:5000, open http://127.0.0.1:8787/device?user_code=BCDF-GHJK and check the code BCDF-GHJK"));
    assert!(
        lines[1].starts_with("Signed in to 127.0.0.1:5000 as sso-alice until "),
        "{lines:?}"
    );
    assert!(!lines.concat().contains("tgp_secret1"));
    assert_eq!(
        *w.screen.opened.borrow(),
        vec![format!("{TG}/device?user_code=BCDF-GHJK")]
    );
    // Cached: the next get checks it at Tollgate (Basic) and asks for no new approval.
    w.fake.answer(200, r#"{"token":"t"}"#);
    let again = w.get(false).unwrap();
    assert_eq!(again.password.expose(), "tgp_secret1");
    assert_eq!(
        w.fake.requests()[6],
        "GET http://127.0.0.1:8787/token?service=registry.local as sso-alice:tgp_secret1"
    );
}

#[cfg(unix)]
#[test]
fn the_cache_file_is_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let w = World::signed_in("tgp_secret1");
    let file = w.cache.path(&w.host());
    assert!(file.ends_with("127.0.0.1_5000.json"));
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(file.parent().unwrap()), 0o700);
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(json["registry"], REG);
    assert_eq!(json["username"], "sso-alice");
    // Only one file: no temporary left behind.
    assert_eq!(
        std::fs::read_dir(file.parent().unwrap()).unwrap().count(),
        1
    );
}

#[test]
fn a_revoked_credential_is_erased_and_reported() {
    let w = World::signed_in("tgp_old");
    // Non-interactive: one line, the file gone, no new approval started.
    w.fake
        .answer(401, r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#);
    let e = w.get(false).unwrap_err();
    assert!(matches!(e, Error::Revoked { .. }), "{e}");
    assert!(e
        .to_string()
        .contains("was revoked or has expired; run `tollgate login 127.0.0.1:5000`"));
    assert!(w.cache.load(&w.host()).unwrap().is_none());
    assert!(matches!(w.get(false), Err(Error::NotFound)));
    // Interactive: said once, then a new approval.
    w.fake.challenge().code(600, 1).granted("tgp_old");
    w.get(true).unwrap();
    w.fake
        .answer(401, "")
        .challenge()
        .code(600, 1)
        .granted("tgp_new");
    let before = w.lines().len();
    assert_eq!(w.get(true).unwrap().password.expose(), "tgp_new");
    let lines = w.lines()[before..].to_vec();
    assert!(
        lines[0].contains("was revoked or has expired; asking for a new approval"),
        "{lines:?}"
    );
    assert!(lines[1].starts_with("To sign in to"), "{lines:?}");
}

#[test]
fn an_unanswered_check_keeps_the_credential() {
    let w = World::signed_in("tgp_keep");
    w.fake.fail();
    assert_eq!(w.get(false).unwrap().password.expose(), "tgp_keep");
    w.fake.answer(503, "");
    assert_eq!(w.get(false).unwrap().password.expose(), "tgp_keep");
    assert!(w.cache.load(&w.host()).unwrap().is_some());
}

#[test]
fn an_expiring_credential_is_not_handed_out() {
    let w = World::signed_in("tgp_old");
    let c = w.cache.load(&w.host()).unwrap().unwrap();
    w.fake
        .clock
        .now
        .set(c.expires_at - crate::cache::EXPIRY_MARGIN);
    // No check request, no credential: not found (non-interactive), and the file is gone.
    assert!(matches!(w.get(false), Err(Error::NotFound)));
    assert!(w.cache.load(&w.host()).unwrap().is_none());
    assert_eq!(w.fake.requests().len(), 3);
}

#[test]
fn denial_expiry_and_disabled_sign_in_are_one_line_each() {
    let w = World::new();
    w.fake
        .challenge()
        .code(600, 5)
        .poll_error("authorization_pending")
        .poll_error("access_denied");
    let e = w.get(true).unwrap_err();
    assert_eq!(
        e.to_string(),
        "tollgate: the sign-in for 127.0.0.1:5000 was denied in the browser; nothing was stored"
    );
    assert!(w.cache.load(&w.host()).unwrap().is_none());

    // Nobody approves: the last poll is at the deadline, never after.
    let w = World::new();
    let start = w.fake.clock.now();
    w.fake.challenge().code(60, 5);
    for _ in 0..12 {
        w.fake.poll_error("authorization_pending");
    }
    let e = w.get(true).unwrap_err();
    assert!(matches!(e, Error::Expired { seconds: 60, .. }), "{e}");
    assert_eq!(w.fake.clock.now(), start + 60);
    assert!(w.fake.times.borrow().iter().all(|t| *t <= start + 60));
    assert!(e
        .to_string()
        .contains("expired after 60 s without an approval"));

    // Tollgate says expired_token first.
    let w = World::new();
    w.fake.challenge().code(600, 5).poll_error("expired_token");
    assert!(matches!(w.get(true), Err(Error::Expired { .. })));

    let w = World::new();
    w.fake.challenge().answer(404, "not found");
    let e = w.get(true).unwrap_err().to_string();
    assert!(
        e.contains("offers no device sign-in (404 on /device/code)"),
        "{e}"
    );
}

#[test]
fn an_unreachable_tollgate_fails_fast() {
    let w = World::new();
    w.fake.challenge().fail();
    let e = w.get(true).unwrap_err().to_string();
    assert_eq!(
        e,
        "tollgate: cannot reach Tollgate at http://127.0.0.1:8787: connection refused"
    );
    // Two failed polls are survived, the third in a row ends it long before the code expires.
    let w = World::new();
    w.fake
        .challenge()
        .code(600, 5)
        .fail()
        .answer(502, "")
        .poll_error("authorization_pending");
    w.fake.fail().fail().fail();
    let e = w.get(true).unwrap_err();
    assert!(matches!(e, Error::Unreachable { .. }), "{e}");
    assert_eq!(w.fake.clock.slept.borrow().len(), 6);
    // The registry itself not answering is a discovery error naming the probe.
    let w = World::new();
    w.fake.fail();
    let e = w.get(true).unwrap_err().to_string();
    assert!(e.contains("cannot find the Tollgate of 127.0.0.1:5000: GET http://127.0.0.1:5000/v2/: connection refused"), "{e}");
}

#[test]
fn configuration_skips_discovery() {
    let mut w = World::new();
    w.config.env_url = Some("http://127.0.0.1:9999".into());
    w.config.env_service = Some("svc".into());
    w.fake.answer(
        200,
        r#"{"device_code":"d","user_code":"BCDF-GHJK","verification_uri":"http://127.0.0.1:9999/device","expires_in":60,"interval":1}"#,
    );
    w.fake.answer(
        200,
        &format!(
            r#"{{"username":"sso-alice","password":"p","password_expires_at":{}}}"#,
            1_000_000 + 3600
        ),
    );
    let c = w.get(true).unwrap();
    assert_eq!(
        (c.tollgate.as_str(), c.service.as_deref()),
        ("http://127.0.0.1:9999", Some("svc"))
    );
    assert!(w.fake.requests()[0].starts_with(
        "POST http://127.0.0.1:9999/device/code client_id=docker-credential-tollgate&service=svc"
    ));
    // No verification_uri_complete: the bare URI is opened.
    assert_eq!(
        *w.screen.opened.borrow(),
        vec!["http://127.0.0.1:9999/device".to_string()]
    );
}

#[test]
fn non_interactive_without_a_credential_is_not_found() {
    let w = World::new();
    let e = w.get(false).unwrap_err();
    assert_eq!(e.to_string(), "credentials not found in native keychain");
    assert!(w.fake.requests().is_empty());
}

#[test]
fn helper_actions() {
    let w = World::new();
    let run = |a, input: &str, interactive| app::run(a, input, &w.client(), interactive);
    // store: refused, the secret it was given never echoed.
    let out = run(
        Action::Store,
        r#"{"ServerURL":"127.0.0.1:5000","Username":"u","Secret":"hunter2"}"#,
        true,
    );
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("stores none it is given") && !out.stdout.contains("hunter2"));
    assert_eq!(
        run(Action::Erase, REG, false),
        Outcome {
            stdout: "credentials not found in native keychain\n".into(),
            code: 1
        }
    );
    assert_eq!(run(Action::List, "", false).stdout, "{}");
    let bad = run(Action::Get, "not a host/", false);
    assert_eq!(bad.code, 1);
    assert!(bad.stdout.contains("is not a registry host"));
    // get -> JSON with the ServerURL as given; list names it; erase removes it.
    w.fake.challenge().code(600, 1).granted("tgp_json");
    let out = run(Action::Get, "127.0.0.1:5000\n", true);
    assert_eq!(
        out,
        Outcome {
            stdout: r#"{"ServerURL":"127.0.0.1:5000","Username":"sso-alice","Secret":"tgp_json"}"#
                .into(),
            code: 0
        }
    );
    assert_eq!(
        run(Action::List, "", false).stdout,
        r#"{"127.0.0.1:5000":"sso-alice"}"#
    );
    // erase (docker logout) revokes the credential at Tollgate, then removes it.
    w.fake.answer(200, "{}");
    assert_eq!(run(Action::Erase, "http://127.0.0.1:5000/", false).code, 0);
    assert!(w
        .fake
        .requests()
        .last()
        .unwrap()
        .starts_with(&format!("POST {TG}/oauth/revoke token=tgp_json&")));
    assert_eq!(run(Action::List, "", false).stdout, "{}");
    assert!(run(Action::Version, "", false)
        .stdout
        .starts_with("docker-credential-tollgate (Tollgate) "));
}

#[test]
fn logout_revokes_at_tollgate_and_returns_what_it_removed() {
    let w = World::new();
    assert!(w.client().logout(&w.host()).unwrap().is_none());
    assert!(
        w.fake.requests().is_empty(),
        "nothing cached, nothing to revoke"
    );
    w.fake.challenge().code(600, 1).granted("tgp_x");
    let (c, _) = w.client().login(&w.host()).unwrap();
    w.fake.answer(200, "{}");
    let (removed, revocation) = w.client().logout(&w.host()).unwrap().unwrap();
    assert_eq!(revocation, Revocation::Revoked);
    assert_eq!(removed.expires_at, c.expires_at);
    assert_eq!(
        w.fake.requests().last().unwrap(),
        &format!("POST {TG}/oauth/revoke token=tgp_x&token_type_hint=personal_credential&client_id={HELPER_CLIENT_ID}")
    );
    assert!(w.cache.load(&w.host()).unwrap().is_none());
}

/// The file goes whatever Tollgate answers; a revocation it did not confirm is said, with why,
/// until when the credential may still work and where to end it.
#[test]
fn logout_removes_the_file_even_when_tollgate_does_not_confirm() {
    for (script, why) in [
        (0u16, "connection refused"),
        (503, "temporarily_unavailable: the credential store failed"),
        (404, "no revocation endpoint"),
    ] {
        let w = World::signed_in("tgp_y");
        match script {
            0 => w.fake.fail(),
            404 => w.fake.answer(404, "not found"),
            s => w.fake.answer(
                s,
                r#"{"error":"temporarily_unavailable","error_description":"the credential store failed (x); nothing was revoked: try again"}"#,
            ),
        };
        let (c, r) = w.client().logout(&w.host()).unwrap().unwrap();
        let Revocation::Failed(reason) = r else {
            panic!("{script}: {r:?}")
        };
        assert!(reason.contains(why), "{reason}");
        assert!(w.cache.load(&w.host()).unwrap().is_none(), "{script}");
        let line = not_revoked(&w.host(), &c, &reason);
        assert!(line.contains("stays valid until") && line.contains(&format!("{TG}/account")));
        assert!(!line.contains("tgp_y"), "the secret is never shown");
        // docker logout (erase) says it on the terminal and still succeeds.
        let w = World::signed_in("tgp_z");
        w.fake.fail();
        let out = app::run(Action::Erase, REG, &w.client(), false);
        assert_eq!(out.code, 0);
        assert!(w
            .screen
            .lines
            .borrow()
            .iter()
            .any(|l| l.contains("could not revoke it")));
    }
}

#[cfg(unix)]
#[test]
fn the_cache_refuses_symlinks_and_foreign_files() {
    use std::os::unix::fs::{symlink, PermissionsExt as _};
    let w = World::signed_in("tgp_a");
    let file = w.cache.path(&w.host());
    let dir = file.parent().unwrap().to_path_buf();
    // A symlink in place of the credential file is not read...
    let elsewhere = dir.parent().unwrap().join("elsewhere.json");
    std::fs::rename(&file, &elsewhere).unwrap();
    symlink(&elsewhere, &file).unwrap();
    let e = w.cache.load(&w.host()).unwrap_err().to_string();
    assert!(e.contains("symlink is refused"), "{e}");
    // ...and a save replaces the link instead of writing through it.
    w.fake.challenge().code(600, 1).granted("tgp_b");
    let _ = std::fs::remove_file(&file);
    symlink(&elsewhere, &file).unwrap();
    let c = w.client().login(&w.host()).unwrap().0;
    assert_eq!(c.password.expose(), "tgp_b");
    assert!(std::fs::symlink_metadata(&file)
        .unwrap()
        .file_type()
        .is_file());
    assert!(String::from_utf8(std::fs::read(&elsewhere).unwrap())
        .unwrap()
        .contains("tgp_a"));
    // A directory others may write to is refused.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    w.fake.challenge().code(600, 1).granted("tgp_c");
    let e = w.client().login(&w.host()).unwrap_err().to_string();
    assert!(e.contains("mode 0700"), "{e}");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    // Garbage in the file is an error naming it, never a credential.
    std::fs::write(&file, "{\"registry\":1}").unwrap();
    let e = w.cache.load(&w.host()).unwrap_err().to_string();
    assert!(e.contains("not a Tollgate credential file"), "{e}");
}
