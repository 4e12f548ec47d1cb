//! Talking to the person and the clock: the seams the flow is tested through.
//!
//! docker, podman and skopeo capture a helper's stdout (the protocol's answer) AND its stderr, so
//! the instruction goes to the controlling terminal (`/dev/tty`) when there is one, else to stderr.
//! A browser is opened only where a display exists.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What the flow shows and opens.
pub trait Ui {
    /// One line for the person (made printable by the caller).
    fn show(&self, line: &str);
    /// Opens `url` in a browser if that is possible here; silently nothing otherwise.
    fn open_browser(&self, url: &str);
}

/// Unix time and waiting.
pub trait Clock {
    fn now(&self) -> u64;
    fn sleep(&self, seconds: u64);
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }

    fn sleep(&self, seconds: u64) {
        std::thread::sleep(Duration::from_secs(seconds));
    }
}

/// When `get` may start a browser approval (`TOLLGATE_INTERACTIVE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interactive {
    /// Only when a terminal (`/dev/tty`) can show the code (the default): CI jobs and daemons
    /// without one get "credentials not found" at once instead of waiting for nobody.
    Auto,
    /// Always; the code goes to stderr when there is no terminal.
    Always,
    /// Never: only a cached credential is returned.
    Never,
}

impl Interactive {
    pub fn parse(value: Option<&str>) -> Result<Interactive, String> {
        match value.map(str::trim).unwrap_or("") {
            "" | "auto" => Ok(Interactive::Auto),
            "1" | "always" | "true" | "yes" => Ok(Interactive::Always),
            "0" | "never" | "false" | "no" => Ok(Interactive::Never),
            other => Err(format!(
                "TOLLGATE_INTERACTIVE={:?}: use auto, always or never",
                crate::error::printable(other, 20)
            )),
        }
    }

    /// Whether an approval may start, given whether a terminal is there.
    pub fn allows(self, has_tty: bool) -> bool {
        match self {
            Interactive::Auto => has_tty,
            Interactive::Always => true,
            Interactive::Never => false,
        }
    }
}

/// The real person: `/dev/tty` or stderr, and the system's browser opener.
pub struct Terminal {
    tty: Option<std::fs::File>,
    browser: bool,
}

impl Terminal {
    /// `no_browser`: `--no-browser` or `TOLLGATE_NO_BROWSER=1`.
    pub fn open(no_browser: bool) -> Terminal {
        let tty = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/tty")
            .ok();
        let env_off = std::env::var("TOLLGATE_NO_BROWSER").is_ok_and(|v| !v.is_empty() && v != "0");
        Terminal {
            tty,
            browser: !no_browser && !env_off && display_available(),
        }
    }

    pub fn has_tty(&self) -> bool {
        self.tty.is_some()
    }

    /// Writes `line` to the terminal only (not stderr), if there is one.
    pub fn tell_tty(&self, line: &str) {
        if let Some(tty) = &self.tty {
            let _ = writeln!(&*tty, "{line}");
        }
    }
}

/// A graphical session a browser could open in.
fn display_available() -> bool {
    if cfg!(target_os = "macos") {
        return std::env::var_os("SSH_CONNECTION").is_none();
    }
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()))
}

impl Ui for Terminal {
    fn show(&self, line: &str) {
        // A write that fails (terminal gone) must not fail the flow: the browser may still be open.
        let _ = match &self.tty {
            // `Write` is implemented for `&File`: no lock or `mut` needed to write a line.
            Some(tty) => writeln!(&*tty, "{line}"),
            None => writeln!(std::io::stderr(), "{line}"),
        };
    }

    fn open_browser(&self, url: &str) {
        if !self.browser {
            return;
        }
        let opener = if cfg!(target_os = "macos") {
            "open"
        } else {
            "xdg-open"
        };
        // No inherited stdio: the helper's stdout is the protocol's answer.
        let _ = Command::new(opener)
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }
}

/// `2026-12-06 08:00 UTC` for messages.
pub fn utc(unix: u64) -> String {
    i64::try_from(unix)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| format!("unix time {unix}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interactive_modes() {
        assert_eq!(Interactive::parse(None).unwrap(), Interactive::Auto);
        assert_eq!(
            Interactive::parse(Some("always")).unwrap(),
            Interactive::Always
        );
        assert_eq!(Interactive::parse(Some("0")).unwrap(), Interactive::Never);
        assert!(Interactive::parse(Some("maybe")).is_err());
        assert!(Interactive::Auto.allows(true) && !Interactive::Auto.allows(false));
        assert!(Interactive::Always.allows(false) && !Interactive::Never.allows(true));
    }

    #[test]
    fn utc_format() {
        assert_eq!(utc(1_765_000_000), "2025-12-06 05:46 UTC");
    }
}
