//! `tollgate --help` lists every command group (issue 4: `cargo run --bin tollgate -- --help`).

mod common;

#[test]
fn help_lists_the_commands() {
    common::tg("--help", &[]).prints("help.txt");
    for sub in [
        &["keys", "--help"][..],
        &["policy", "--help"],
        &["user", "--help"],
        &["apikey", "--help"],
        &["token", "--help"],
        &["explain", "--help"],
    ] {
        let r = common::run(sub);
        assert_eq!(r.code, 0, "{sub:?}: {}", r.stderr);
    }
    common::tg("frobnicate", &[]).fails(2, "unrecognized subcommand 'frobnicate'");
}
