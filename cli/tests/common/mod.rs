//! Helpers for the CLI's integration tests: run the built `tollgate` binary as one command line
//! ([`tg`]), check what it printed, and compare whole outputs with snapshot files under
//! tests/golden through snapbox (`SNAPSHOTS=overwrite cargo test -p tollgate-cli` rewrites them
//! after a reviewed change; UPDATE_GOLDEN=1 still works).
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
    cmd.env_remove("TOLLGATE_PLAN");
    cmd
}

fn finish(out: Output) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}

/// Runs `cmd` (a [`bin`] with its arguments) with stdin closed.
pub(crate) fn run_cmd(mut cmd: Command) -> Run {
    finish(cmd.stdin(Stdio::null()).output().expect("run tollgate"))
}

/// Runs `tollgate ARGS` in `dir` (the crate directory when None).
pub(crate) fn run_in(dir: Option<&Path>, args: &[&str]) -> Run {
    let mut cmd = bin();
    cmd.args(args);
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    run_cmd(cmd)
}

pub(crate) fn run(args: &[&str]) -> Run {
    run_in(None, args)
}

/// The arguments of a command line: `line`'s words, each word `{}` replaced by the next of
/// `values` (kept whole, so a path may hold spaces).
fn words<'a>(line: &'a str, values: &[&'a str]) -> Vec<&'a str> {
    let mut values = values.iter();
    let args: Vec<&str> = line
        .split_whitespace()
        .map(|w| match w {
            "{}" => *values
                .next()
                .expect("a value for every {} in the command line"),
            w => w,
        })
        .collect();
    assert!(values.next().is_none(), "more values than {{}} in {line:?}");
    args
}

/// `tollgate LINE`: e.g. `tg("keys show {}", &[path])`.
pub(crate) fn tg(line: &str, values: &[&str]) -> Run {
    run(&words(line, values))
}

/// `tollgate LINE` in `dir`.
pub(crate) fn tg_in(dir: Option<&Path>, line: &str, values: &[&str]) -> Run {
    run_in(dir, &words(line, values))
}

/// `tollgate LINE` with `input` on stdin.
pub(crate) fn tg_stdin(line: &str, values: &[&str], input: &str) -> Run {
    run_stdin(&words(line, values), input)
}

#[track_caller]
fn holds(stream: &str, text: &str, needle: &str) {
    assert!(text.contains(needle), "{stream} lacks {needle:?}:\n{text}");
}

impl Run {
    /// Asserts that stderr holds `needle` (showing all of stderr when not).
    #[track_caller]
    pub(crate) fn stderr_has(&self, needle: &str) {
        holds("stderr", &self.stderr, needle);
    }

    /// Asserts that the command exited 0 (showing its stderr when not).
    #[track_caller]
    pub(crate) fn succeeded(&self) {
        assert_eq!(self.code, 0, "stderr:\n{}", self.stderr);
    }

    /// Asserts that the command exited with `code` and said `needle` on stderr.
    #[track_caller]
    pub(crate) fn fails(&self, code: i32, needle: &str) {
        assert_eq!(self.code, code, "stderr:\n{}", self.stderr);
        self.stderr_has(needle);
    }

    /// Asserts that the command exited 0 and printed exactly the snapshot tests/golden/NAME
    /// (see [`golden`]).
    #[track_caller]
    pub(crate) fn prints(&self, name: &str) {
        self.succeeded();
        golden(name, &self.stdout);
    }

    /// Asserts that stdout holds `needle` (showing all of stdout when not).
    #[track_caller]
    pub(crate) fn stdout_has(&self, needle: &str) {
        holds("stdout", &self.stdout, needle);
    }
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

/// Compares `actual` with the snapshot tests/golden/NAME, byte for byte (snapbox; with
/// SNAPSHOTS=overwrite, or UPDATE_GOLDEN set, it rewrites the file instead).
#[track_caller]
pub(crate) fn golden(name: &str, actual: &str) {
    let path = crate_dir().join("tests/golden").join(name);
    let action = if std::env::var_os("UPDATE_GOLDEN").is_some() {
        snapbox::assert::Action::Overwrite
    } else {
        snapbox::assert::Action::Verify
    };
    snapbox::Assert::new()
        .action(action)
        .action_env("SNAPSHOTS")
        .eq(
            snapbox::Data::text(actual).raw(),
            snapbox::Data::read_from(&path, None).raw(),
        );
}
