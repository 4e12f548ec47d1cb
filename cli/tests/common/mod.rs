//! Helpers for the CLI's integration tests: run the built `tollgate` binary and compare output
//! with golden files under tests/golden (set UPDATE_GOLDEN=1 to rewrite them after a reviewed change).
#![allow(dead_code)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub(crate) struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub(crate) fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tollgate"));
    cmd.env_remove("TOLLGATE_POLICY");
    cmd
}

fn finish(out: Output) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}

/// Runs `tollgate ARGS` in `dir` (the crate directory when None).
pub(crate) fn run_in(dir: Option<&Path>, args: &[&str]) -> Run {
    let mut cmd = bin();
    cmd.args(args).stdin(Stdio::null());
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    finish(cmd.output().expect("run tollgate"))
}

pub(crate) fn run(args: &[&str]) -> Run {
    run_in(None, args)
}

/// Runs `tollgate ARGS` with `input` on stdin.
pub(crate) fn run_stdin(args: &[&str], input: &str) -> Run {
    let mut child = bin()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tollgate");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    finish(child.wait_with_output().expect("wait tollgate"))
}

pub(crate) fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub(crate) fn repo_file(rel: &str) -> String {
    crate_dir().join("..").join(rel).display().to_string()
}

pub(crate) fn fixture(name: &str) -> String {
    crate_dir()
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

/// Compares `actual` with tests/golden/NAME (or writes it when UPDATE_GOLDEN is set).
pub(crate) fn golden(name: &str, actual: &str) {
    let path = crate_dir().join("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "missing golden file {} (run with UPDATE_GOLDEN=1)",
            path.display()
        )
    });
    assert_eq!(actual, expected, "output differs from {}", path.display());
}
