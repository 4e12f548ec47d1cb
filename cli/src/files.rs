//! Writing the files the CLI owns (private keys, certificates, the policy file) so that nothing
//! can redirect the write: the bytes go to a new temporary file in the target's directory (random
//! name, created exclusively, mode 0600, from `tempfile`), which then replaces the target by
//! rename. A rename replaces the directory entry itself: a symlink planted at the target, even a
//! dangling one, is replaced, never written through, and a reader never sees half a file.

use std::io::Write as _;
use std::path::Path;

use anyhow::{bail, Context, Result};

/// Whether the target may already exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Replace {
    /// Refuse if anything (a file, a directory, a symlink even if dangling) is at the path.
    Never,
    /// Replace what is there (`keys generate --force`, the policy file).
    Allowed,
}

/// Whether something is at `path`, not following a final symlink (a dangling one counts).
pub(crate) fn occupied(path: &Path) -> bool {
    path.symlink_metadata().is_ok()
}

/// Writes `bytes` to `path` through a fresh temporary file; `mode` is the final permission bits
/// (the temporary file is 0600 until then, so a secret is never readable by others).
pub(crate) fn write(path: &Path, bytes: &[u8], mode: u32, replace: Replace) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}.tollgate-"))
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("writing {}", tmp.path().display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("setting the mode of {}", tmp.path().display()))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    match replace {
        Replace::Allowed => tmp.persist(path).map(drop),
        // link(2) refuses an existing name, whatever it is: no check-then-write race.
        Replace::Never => tmp.persist_noclobber(path).map(drop),
    }
    .map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow::anyhow!("{} already exists", path.display())
        } else {
            anyhow::Error::new(e.error).context(format!("replacing {}", path.display()))
        }
    })?;
    Ok(())
}

/// The permission bits a replaced file keeps: those of the regular file at `path` (a symlink's
/// target is not consulted), else `default`.
pub(crate) fn mode_of(path: &Path, default: u32) -> u32 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = path.symlink_metadata() {
            if m.file_type().is_file() {
                return m.permissions().mode() & 0o7777;
            }
        }
    }
    default
}

/// Refuses when something is at any of `paths` (see [`occupied`]).
pub(crate) fn refuse_existing(paths: &[&Path], hint: &str) -> Result<()> {
    for p in paths {
        if occupied(p) {
            bail!("{} already exists; {hint}", p.display());
        }
    }
    Ok(())
}

/// What the tests of code that writes through [`write`] set up.
#[cfg(all(test, unix))]
pub(crate) mod fixtures {
    use std::os::unix::fs::{symlink, PermissionsExt};
    use std::path::{Path, PathBuf};

    /// What an attacker plants where the CLI is about to write: a symlink at `dir/name` to a file
    /// `dir/victim` holding `keep`. Returns the victim.
    pub(crate) fn planted_symlink(dir: &Path, name: &str) -> PathBuf {
        let victim = dir.join("victim");
        std::fs::write(&victim, "keep").unwrap();
        symlink(&victim, dir.join(name)).unwrap();
        victim
    }

    /// A regular file at `path` holding `text`, with permission bits `mode`.
    pub(crate) fn file_with_mode(path: &Path, text: &str, mode: u32) {
        std::fs::write(path, text).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::fixtures::{file_with_mode, planted_symlink};
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    #[test]
    fn never_writes_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let target = planted_symlink(dir.path(), "key.pem");
        let link = dir.path().join("key.pem");
        // Replace::Never: refused, the target untouched.
        assert!(write(&link, b"secret", 0o600, Replace::Never).is_err());
        // Replace::Allowed: the link itself is replaced by a regular file.
        write(&link, b"secret", 0o600, Replace::Allowed).unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
        let meta = link.symlink_metadata().unwrap();
        assert!(meta.file_type().is_file());
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        // A dangling link is never followed to create its target.
        let nowhere = dir.path().join("nowhere");
        let dangling = dir.path().join("dangling.pem");
        symlink(&nowhere, &dangling).unwrap();
        assert!(occupied(&dangling));
        assert!(write(&dangling, b"secret", 0o600, Replace::Never).is_err());
        write(&dangling, b"secret", 0o600, Replace::Allowed).unwrap();
        assert!(!nowhere.exists(), "the dangling link's target was created");
        // No temporary file is left behind.
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn keeps_a_regular_files_mode_only() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("policy.toml");
        file_with_mode(&f, "x", 0o640);
        assert_eq!(mode_of(&f, 0o644), 0o640);
        assert_eq!(mode_of(&dir.path().join("absent"), 0o644), 0o644);
    }
}
