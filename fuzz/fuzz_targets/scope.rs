//! The scope parser (`type[(class)]:name:actions`): single scopes must survive display -> parse
//! unchanged, and a request's scopes (one per input line here) must merge within the limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_core::scope::{parse_scopes, Scope};
use tollgate_fuzz::{check_merged, check_scope};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Scope::parse(text) {
        Ok(s) => check_scope(&s),
        // Error messages quote the input through `printable`: bounded and free of control chars.
        Err(e) => {
            let msg = e.to_string();
            // 80 quoted chars, each escaped to at most 10 (`\\u{10ffff}`), plus the fixed text.
            assert!(msg.chars().count() < 1200, "unbounded error message");
            assert!(
                !msg.chars().any(char::is_control),
                "control char in {msg:?}"
            );
        }
    }
    if let Ok(scopes) = parse_scopes(text.split('\n')) {
        check_merged(&scopes);
    }
});
