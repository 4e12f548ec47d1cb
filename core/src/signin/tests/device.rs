//! Device login (RFC 8628) end to end in the core: codes, every poll answer, the approval pages
//! behind the sign-in, the credential an approval yields, and its revocation.

use super::*;
use crate::signin::device::{
    self as dev, normalize_user_code, poll, DeviceRecord, Poll, State, GRANT_TYPE,
};

const CLI: &str = "docker-credential-tollgate";

fn json_of(r: &HttpResponse) -> Value {
    r.json_body()
        .unwrap_or_else(|| panic!("not JSON: {}", String::from_utf8_lossy(&r.body)))
}

impl World {
    fn post_form(&mut self, path: &str, body: &str) -> Answer {
        self.run(
            HttpRequest::new("POST", path, "")
                .with_header("content-type", "application/x-www-form-urlencoded")
                .with_header("cf-connecting-ip", "198.51.100.9")
                .with_body(body.as_bytes().to_vec()),
        )
    }

    /// `POST /device/code` for `CLI`: the JSON answer.
    fn device_code(&mut self) -> Value {
        let (r, _) = self.post_form("/device/code", &format!("client_id={CLI}"));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        json_of(&r)
    }

    /// A new device code and its user code.
    fn codes(&mut self) -> (String, String) {
        let a = self.device_code();
        let text = |k: &str| a[k].as_str().unwrap().to_string();
        (text("device_code"), text("user_code"))
    }

    /// One poll of the token endpoint: status and JSON.
    fn poll(&mut self, device_code: &str, client_id: &str) -> (u16, Value) {
        let body =
            format!("grant_type={GRANT_TYPE}&device_code={device_code}&client_id={client_id}");
        let (r, _) = self.post_form("/token", &body);
        let cache: Vec<_> = r
            .headers
            .iter()
            .filter(|(n, _)| n == "cache-control")
            .collect();
        assert_eq!(cache.len(), 1, "{cache:?}");
        assert_eq!(r.header("cache-control"), Some("no-store"));
        (r.status, json_of(&r))
    }

    fn device_page(&mut self, session: &str, query: &str) -> (u16, String) {
        let (r, _) = self.run(
            HttpRequest::new("GET", "/device", query)
                .with_header("cookie", &format!("__Host-tg_session={session}")),
        );
        (r.status, String::from_utf8(r.body).unwrap())
    }

    /// Signs in, opens the code's confirmation, and presses `decision`.
    fn decide(&mut self, user_code: &str, decision: &str) -> (u16, String) {
        let s = self.session();
        let (st, page) = self.device_page(&s, &format!("user_code={user_code}"));
        assert_eq!(st, 200, "{page}");
        let csrf = csrf_of(&page);
        self.press(&s, &csrf, user_code, decision)
    }

    /// Presses `decision` on `user_code`'s confirmation, with the page's `csrf`.
    fn press(
        &mut self,
        session: &str,
        csrf: &str,
        user_code: &str,
        decision: &str,
    ) -> (u16, String) {
        let body = format!("csrf={csrf}&user_code={user_code}&decision={decision}");
        self.form("/device", session, &body)
    }
}

fn error_of(p: &(u16, Value)) -> &str {
    assert_eq!(p.0, 400, "{}", p.1);
    p.1["error"].as_str().unwrap()
}

#[test]
fn user_codes_are_eight_consonants_typed_loosely() {
    for typed in ["BCDF-GHJK", "bcdfghjk", " bcdf ghjk ", "Bcdf-Ghjk"] {
        assert_eq!(
            normalize_user_code(typed).as_deref(),
            Some("BCDFGHJK"),
            "{typed}"
        );
    }
    for bad in [
        "ABCD-EFGH",
        "BCDF-GHJ",
        "BCDF-GHJKL",
        "BCDF0GHJ",
        "",
        &"B".repeat(40),
    ] {
        assert_eq!(normalize_user_code(bad), None, "{bad}");
    }
    assert_eq!(dev::display_user_code("BCDFGHJK"), "BCDF-GHJK");
    assert!(dev::valid_client_id("docker-credential-tollgate"));
    assert!(dev::valid_client_id("a.b_c-1"));
    for bad in ["", "a b", "a/b", "<x>", &"x".repeat(65)] {
        assert!(!dev::valid_client_id(bad), "{bad}");
    }
}

#[test]
fn the_device_code_answer_has_the_rfc_fields_and_stores_only_digests() {
    let mut w = World::new();
    let a = w.device_code();
    let code = a["user_code"].as_str().unwrap();
    assert!(
        code.len() == 9 && &code[4..5] == "-" && normalize_user_code(code).is_some(),
        "{code}"
    );
    assert_eq!(a["verification_uri"], format!("{BASE}/device"));
    assert_eq!(
        a["verification_uri_complete"],
        format!("{BASE}/device?user_code={code}")
    );
    assert_eq!(a["expires_in"], 600);
    assert_eq!(a["interval"], 5);
    let device_code = a["device_code"].as_str().unwrap();
    assert!(device_code.starts_with("tgd_") && device_code.len() == 47);
    let data = w.store.data.borrow().clone();
    let raw = normalize_user_code(code).unwrap();
    for (k, v) in &data {
        assert!(!k.contains(device_code) && !v.contains(device_code), "{k}");
        assert!(!k.contains(&raw) && !v.contains(&raw), "{k}");
    }
    let rec: DeviceRecord =
        serde_json::from_str(&data[&dev::record_key(&secret_digest(device_code))]).unwrap();
    assert_eq!(rec.client_id, CLI);
    assert_eq!(rec.service, REG);
    assert_eq!(rec.state, State::Pending);
    assert!(data.contains_key(&dev::user_key(&raw)));
}

#[test]
fn bad_device_code_requests_get_oauth2_errors() {
    let mut w = World::new();
    for (body, status, error) in [
        ("", 400, "invalid_request"),
        ("client_id=a%20b", 400, "invalid_client"),
        ("client_id=x&client_id=y", 400, "invalid_request"),
        ("client_id=x&service=elsewhere", 400, "invalid_request"),
    ] {
        let (r, _) = w.post_form("/device/code", body);
        assert_eq!(r.status, status, "{body}");
        assert_eq!(json_of(&r)["error"], error, "{body}");
    }
    let (r, _) = w.run(HttpRequest::new("GET", "/device/code", ""));
    assert_eq!(r.status, 405);
    assert_eq!(json_of(&r)["error"], "invalid_request");
    // MODE=proxy has no token endpoint to exchange a code at: no codes either.
    let mut v = vars();
    v.insert("MODE", "proxy".into());
    v.insert("PROXY_ORIGIN", "https://origin.example".into());
    let mut p = World::with(v);
    let (r, _) = p.post_form("/device/code", &format!("client_id={CLI}"));
    assert_eq!(r.status, 404, "{}", String::from_utf8_lossy(&r.body));
    assert!(json_of(&r)["error_description"]
        .as_str()
        .unwrap()
        .contains("MODE"));
}

#[test]
fn device_codes_are_rate_limited_per_address_by_the_login_limiter() {
    let mut w = World::new();
    for _ in 0..3 {
        w.device_code();
    }
    let (r, log) = w.post_form("/device/code", &format!("client_id={CLI}"));
    assert_eq!(r.status, 429);
    assert_eq!(json_of(&r)["error"], "slow_down");
    assert!(r.header("retry-after").is_some());
    assert!(log.unwrap().contains("throttled"));
    // Its own key: the address's password and sign-in budget is untouched.
    let counted: Vec<String> = w.limiter.counts.borrow().keys().cloned().collect();
    assert_eq!(counted.len(), 1, "{counted:?}");
    assert!(!counted.contains(&crate::token_service::throttle::ip_key("198.51.100.9")));
    let (r, _) = w.sign_in_with(json!({}));
    assert_eq!(
        r.status, 303,
        "a correct sign-in from elsewhere still works"
    );
}

#[test]
fn polling_answers_pending_then_slow_down_and_the_interval_grows() {
    let mut w = World::new();
    let a = w.device_code();
    let dc = a["device_code"].as_str().unwrap().to_string();
    assert_eq!(error_of(&w.poll(&dc, CLI)), "authorization_pending");
    // Again at once: too fast.
    assert_eq!(error_of(&w.poll(&dc, CLI)), "slow_down");
    let key = dev::record_key(&secret_digest(&dc));
    let rec: DeviceRecord = serde_json::from_str(&w.store.data.borrow()[&key]).unwrap();
    assert_eq!(rec.interval, 10, "remembered for this device code");
    // 6 s later is still too fast for the new 10 s interval...
    w.now += 6;
    assert_eq!(error_of(&w.poll(&dc, CLI)), "slow_down");
    // ...and 15 s after that it is fine.
    w.now += 15;
    assert_eq!(error_of(&w.poll(&dc, CLI)), "authorization_pending");
    // Another client's code, or a code never issued.
    w.now += 30;
    assert_eq!(error_of(&w.poll(&dc, "other-client")), "invalid_client");
    assert_eq!(error_of(&w.poll("tgd_nope", CLI)), "invalid_grant");
    assert_eq!(error_of(&w.poll("nope", CLI)), "invalid_grant");
}

#[test]
fn the_state_machine_answers_every_rfc_case() {
    let base = DeviceRecord {
        client_id: CLI.into(),
        service: REG.into(),
        user: "d".into(),
        expires: 700,
        interval: 5,
        last_poll: 0,
        state: State::Pending,
        account: String::new(),
        provider: String::new(),
        groups: vec![],
        decided: 0,
    };
    let approval = dev::Approval {
        account: "corp-alice".into(),
        provider: "corp".into(),
        groups: vec!["staff".into()],
        at: 150,
    };
    let mut r = base.clone();
    assert_eq!(poll(&mut r, CLI, 200), Poll::Pending);
    assert_eq!(poll(&mut r, CLI, 202), Poll::SlowDown);
    assert_eq!(r.interval, 10);
    assert_eq!(
        r.last_poll, 200,
        "the wait runs from the last accepted poll"
    );
    // Hammering grows the interval to its cap, then changes nothing (no more KV writes).
    for t in 203..240 {
        assert_eq!(poll(&mut r, CLI, t), Poll::SlowDown);
    }
    assert_eq!(r.interval, 120);
    let capped = r.clone();
    assert_eq!(poll(&mut r, CLI, 241), Poll::SlowDown);
    assert_eq!(r, capped);
    assert_eq!(poll(&mut r, CLI, 320), Poll::Pending);
    assert_eq!(poll(&mut r, CLI, 700), Poll::Expired);
    let mut r = DeviceRecord {
        state: State::Denied,
        ..base.clone()
    };
    assert_eq!(poll(&mut r, CLI, 200), Poll::Denied);
    let approved = DeviceRecord {
        state: State::Approved,
        account: approval.account.clone(),
        provider: approval.provider.clone(),
        groups: approval.groups.clone(),
        decided: approval.at,
        ..base.clone()
    };
    let mut r = approved.clone();
    assert_eq!(poll(&mut r, "x", 200), Poll::WrongClient);
    assert_eq!(poll(&mut r, CLI, 200), Poll::Approved(approval.clone()));
    assert_eq!(r.state, State::Consumed);
    assert_eq!(poll(&mut r, CLI, 201), Poll::Used);
    // An approval not collected before the code expires is lost.
    let mut r = approved;
    assert_eq!(poll(&mut r, CLI, 700), Poll::Expired);
    // "approved" with nobody named (no Tollgate writes that) is never a grant.
    let mut r = DeviceRecord {
        state: State::Approved,
        ..base
    };
    assert_eq!(poll(&mut r, CLI, 200), Poll::Used);
}

#[test]
fn an_approval_yields_a_personal_credential_of_that_person_once() {
    let mut w = World::new();
    let (dc, code) = w.codes();
    // Typed without the dash, in lower case.
    let typed = normalize_user_code(&code).unwrap().to_lowercase();
    let s = w.session();
    let (r, _) = w.run(
        HttpRequest::new("GET", "/device", &format!("user_code={typed}"))
            .with_header("cookie", &format!("__Host-tg_session={s}")),
    );
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert_eq!(r.header("content-security-policy"), Some(page::CSP));
    let (st, page) = (r.status, String::from_utf8(r.body).unwrap());
    assert_eq!(st, 200, "{page}");
    assert!(
        page.contains(&format!("<dd id=\"user-code\">{code}</dd>")),
        "{page}"
    );
    assert!(page.contains(&format!("<dd id=\"client\">{CLI}</dd>")));
    assert!(page.contains("registry.example.com (service registry.local)"));
    assert!(page.contains("8 hours"));
    assert!(!page.contains("<script"));
    let csrf = csrf_of(&page);
    let (st, page) = w.press(&s, &csrf, &code, "approve");
    assert_eq!(st, 200, "{page}");
    assert!(page.contains("Approved"));
    // The user code is single use.
    let (st, page) = w.device_page(&s, &format!("user_code={code}"));
    assert_eq!(st, 404, "{page}");
    assert!(page.contains("not valid"));

    w.now += 5;
    let (st, body) = w.poll(&dc, CLI);
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["username"], "corp-alice");
    assert_eq!(body["service"], REG);
    assert_eq!(body["password_expires_at"], w.now + 28_800);
    let password = body["password"].as_str().unwrap().to_string();
    assert!(password.starts_with("tgp_"));
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(
                body["access_token"]
                    .as_str()
                    .unwrap()
                    .split('.')
                    .nth(1)
                    .unwrap(),
            )
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["sub"], "corp-alice");
    assert_eq!(claims["aud"], REG);
    assert_eq!(claims["access"], json!([]));
    // Single use of the device code.
    assert_eq!(error_of(&w.poll(&dc, CLI)), "invalid_grant");
    // Only the digest is stored; the record says where it came from.
    let data = w.store.data.borrow().clone();
    assert!(data.values().all(|v| !v.contains(&password)));
    let rec = credentials::parse_record(&data[&credentials::record_key(&secret_digest(&password))])
        .unwrap();
    assert_eq!(rec.groups, vec!["dev", "staff"]);
    assert_eq!(rec.expires - rec.created, 28_800);
    assert_eq!(rec.device.as_deref(), Some(CLI));
    assert_eq!(rec.approved, Some(w.now - 5));

    // It logs in like any personal credential, with the IdP's groups...
    let (st, body) = token(
        &w.app,
        &w.store,
        "corp-alice",
        &password,
        "repository:team/app:pull,push",
        w.now,
    );
    assert_eq!(st, 200, "{body}");
    assert_eq!(granted(&body)[0]["actions"], json!(["pull", "push"]));
    // ...for its lifetime only...
    let later = w.now + 28_800;
    assert_eq!(
        token(&w.app, &w.store, "corp-alice", &password, "", later).0,
        401
    );
    // ...is listed on the account page, and revoked there.
    let page = w.page(&s, "").1;
    assert!(page.contains("device approval"), "{page}");
    let csrf = csrf_of(&page);
    let id = secret_digest(&password);
    let (st, _) = w.revoke(&s, &csrf, &id);
    assert_eq!(st, 200);
    assert_eq!(
        token(&w.app, &w.store, "corp-alice", &password, "", w.now).0,
        401
    );
}

#[test]
fn a_denial_answers_access_denied_and_spends_the_code() {
    let mut w = World::new();
    let (dc, code) = w.codes();
    let (st, page) = w.decide(&code, "deny");
    assert_eq!(st, 200, "{page}");
    assert!(page.contains("Denied"));
    assert_eq!(error_of(&w.poll(&dc, CLI)), "access_denied");
    w.now += 10;
    assert_eq!(error_of(&w.poll(&dc, CLI)), "access_denied");
    assert!(!w.store.holds_any("personal:"));
}

#[test]
fn an_expired_code_cannot_be_approved_or_exchanged() {
    let mut w = World::new();
    let (dc, code) = w.codes();
    let s = w.session();
    w.now += 600;
    let (st, page) = w.device_page(&s, &format!("user_code={code}"));
    assert_eq!(st, 400);
    assert!(page.contains("expired"), "{page}");
    assert_eq!(error_of(&w.poll(&dc, CLI)), "expired_token");
}

#[test]
fn the_decision_needs_the_csrf_token_and_a_live_session() {
    let mut w = World::new();
    let (dc, code) = w.codes();
    let s = w.session();
    let (st, _) = w.form("/device", &s, &format!("user_code={code}&decision=approve"));
    assert_eq!(st, 403);
    let (st, _) = w.form(
        "/device",
        &s,
        &format!("csrf=forged&user_code={code}&decision=approve"),
    );
    assert_eq!(st, 403);
    let (st, _) = w.form(
        "/device",
        "nope",
        &format!("user_code={code}&decision=approve"),
    );
    assert_eq!(st, 401);
    assert_eq!(error_of(&w.poll(&dc, CLI)), "authorization_pending");
}

#[test]
fn the_device_page_signs_in_first_and_comes_back() {
    let mut w = World::new();
    let (r, _) = w.run(HttpRequest::new("GET", "/device", "user_code=bcdfghjk"));
    assert_eq!(r.status, 303);
    let to = r.header("location").unwrap().to_string();
    assert_eq!(to, "/login?next=%2Fdevice%3Fuser_code%3DBCDF-GHJK");
    let (r, _) = w.run(HttpRequest::new("GET", "/login", &to["/login?".len()..]));
    let c = cookie_value(&r, "tg_login");
    let loc = url::Url::parse(r.header("location").unwrap()).unwrap();
    let p: HashMap<String, String> = loc.query_pairs().into_owned().collect();
    let t = w.id_token(&p["nonce"], json!({}));
    w.answer(&t);
    let (r, _) = w.callback(&p["state"], &c);
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/device?user_code=BCDF-GHJK"));
    // Nothing but the device page is a return path.
    for evil in [
        "https://evil.example/",
        "//evil.example/device",
        "/device/../account",
        "/\\evil.example",
        "/account?x=/device",
    ] {
        assert_eq!(dev::return_path(evil), None, "{evil}");
    }
    assert_eq!(
        dev::return_path("/device?user_code=\"><script>").as_deref(),
        Some("/device")
    );
}

#[test]
fn wrong_codes_are_throttled_like_failed_sign_ins() {
    let mut w = World::new();
    let s = w.session();
    let mut last = 0;
    for _ in 0..5 {
        let (r, _) = w.run(
            HttpRequest::new("GET", "/device", "user_code=BBBB-BBBB")
                .with_header("cookie", &format!("__Host-tg_session={s}"))
                .with_header("cf-connecting-ip", "192.0.2.50"),
        );
        last = r.status;
    }
    assert_eq!(last, 429);
    // The address is throttled for sign-ins as well: one throttle.
    let (r, _) = w.run(
        HttpRequest::new("GET", "/login/callback", "code=c&state=s")
            .with_header("cf-connecting-ip", "192.0.2.50"),
    );
    assert_eq!(r.status, 429);
}

#[test]
fn a_disabled_account_cannot_approve() {
    let mut w = World::new();
    let a = w.device_code();
    let code = a["user_code"].as_str().unwrap().to_string();
    let s = w.session();
    let csrf = csrf_of(&w.device_page(&s, &format!("user_code={code}")).1);
    w.disable_alice();
    let (st, page) = w.press(&s, &csrf, &code, "approve");
    assert_eq!(st, 403, "{page}");
    assert!(page.contains("disabled"));
}

#[test]
fn a_store_failure_at_the_exchange_grants_nothing() {
    let mut w = World::new();
    let (dc, code) = w.codes();
    assert_eq!(w.decide(&code, "approve").0, 200);
    w.store.fail.set(true);
    let (st, body) = w.poll(&dc, CLI);
    assert_eq!(st, 503, "{body}");
    assert!(body.get("password").is_none());
}

#[test]
fn device_settings_are_bounded() {
    let s = settings(&vars());
    assert_eq!(
        (
            s.device.code_ttl,
            s.device.interval,
            s.device.credential_ttl
        ),
        (600, 5, 28_800)
    );
    for (name, bad) in [
        ("DEVICE_CODE_TTL", "59"),
        ("DEVICE_CODE_TTL", "1801"),
        ("DEVICE_INTERVAL", "0"),
        ("DEVICE_INTERVAL", "61"),
        ("DEVICE_CREDENTIAL_TTL", "299"),
        ("DEVICE_CREDENTIAL_TTL", "604801"),
        ("DEVICE_CREDENTIAL_TTL", "8h"),
    ] {
        let mut v = vars();
        v.insert(name, bad.into());
        let e = SignInSettings::from_vars(|k| v.get(k).cloned(), &[REG.to_string()]).unwrap_err();
        assert_eq!(e.setting, name);
    }
    let mut v = vars();
    v.insert("DEVICE_CREDENTIAL_TTL", "3600".into());
    let mut w = World::with(v);
    let (dc, code) = w.codes();
    let (_, page) = w.decide(&code, "approve");
    assert!(page.contains("valid for 1 hour"), "{page}");
    assert_eq!(w.poll(&dc, CLI).1["password_expires_at"], w.now + 3600);
}

#[test]
fn a_person_with_no_room_for_a_credential_is_told_before_approving() {
    let mut w = World::new();
    let (_, code) = w.codes();
    let alice = Person {
        provider: "corp".into(),
        account: "corp-alice".into(),
        groups: vec![],
    };
    for i in 0..credentials::MAX_PER_ACCOUNT {
        let (name, random) = (format!("k{i}"), [i as u8; 32]);
        block_on(credentials::create(
            &w.store, &alice, &name, 1, 30, &random, w.now,
        ))
        .unwrap();
    }
    let (st, page) = w.decide(&code, "approve");
    assert_eq!(st, 403, "{page}");
    assert!(page.contains("revoke one first"), "{page}");
}

/// State is read through `String` (smaller wasm than serde's enum visitor): every state still
/// reads back as itself, and a name no Tollgate writes is refused rather than read as pending.
#[test]
fn device_states_round_trip_and_unknown_ones_are_refused() {
    for s in [
        State::Pending,
        State::Approved,
        State::Denied,
        State::Consumed,
    ] {
        let text = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<State>(&text).unwrap(), s, "{text}");
    }
    assert_eq!(
        serde_json::to_string(&State::Consumed).unwrap(),
        "\"consumed\""
    );
    for bad in ["\"Pending\"", "\"granted\"", "\"\"", "1", "null"] {
        assert!(serde_json::from_str::<State>(bad).is_err(), "{bad}");
    }
}
