//! The cached credential: one 0600 JSON file per registry host in a 0700 directory,
//! `$XDG_CONFIG_HOME/tollgate/credentials/<host>.json` (`~/.config/...` without XDG_CONFIG_HOME).
//!
//! Written as cli/src/files.rs writes keys: a random, exclusively created 0600 temporary file in
//! the same directory, renamed over the target, so a planted symlink is replaced rather than
//! written through and a reader never sees half a file. Read only if it is a regular file (not a
//! symlink) of bounded size owned by us. A credential is used until `expires_at - EXPIRY_MARGIN`.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::protocol::RegistryHost;
use crate::secret::Secret;

/// A credential this close to its expiry is not handed out: a push started with it could be cut
/// off when the registry asks for a new token. Tollgate's shortest credential lives 300 s.
pub const EXPIRY_MARGIN: u64 = 120;
/// A cache file larger than this is not ours.
const MAX_FILE: u64 = 16 * 1024;
const FORMAT: u32 = 1;

/// What is kept for one registry host (`Debug` leaves the password out: [`Secret`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cached {
    pub format: u32,
    /// The registry host it was obtained for (and is only returned for).
    pub registry: String,
    /// The Tollgate that issued it (base URL) and the service asked for.
    pub tollgate: String,
    pub service: Option<String>,
    pub username: String,
    pub password: Secret,
    /// Unix seconds.
    pub expires_at: u64,
    pub obtained_at: u64,
}

impl Cached {
    pub fn new(
        host: &RegistryHost,
        tollgate: &str,
        service: Option<String>,
        grant: crate::device::Grant,
        now: u64,
    ) -> Cached {
        Cached {
            format: FORMAT,
            registry: host.as_str().to_string(),
            tollgate: tollgate.to_string(),
            service: grant.service.or(service),
            username: grant.username,
            password: grant.password,
            expires_at: grant.expires_at,
            obtained_at: now,
        }
    }

    /// Still worth handing out at `now`.
    pub fn usable(&self, now: u64) -> bool {
        now.saturating_add(EXPIRY_MARGIN) < self.expires_at
    }
}

/// The directory of cached credentials.
#[derive(Debug, Clone)]
pub struct CacheDir {
    dir: PathBuf,
}

/// `$XDG_CONFIG_HOME/tollgate` or `$HOME/.config/tollgate`.
pub fn config_dir() -> Result<PathBuf, Error> {
    let base =
        match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
            Some(x) => PathBuf::from(x),
            None => match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
                Some(h) => PathBuf::from(h).join(".config"),
                None => return Err(Error::BadInput {
                    reason:
                        "neither XDG_CONFIG_HOME nor HOME is set: no place for the credential cache"
                            .into(),
                }),
            },
        };
    if !base.is_absolute() {
        return Err(Error::BadInput {
            reason: format!("{} is not an absolute path", base.display()),
        });
    }
    Ok(base.join("tollgate"))
}

impl CacheDir {
    pub fn new(dir: PathBuf) -> CacheDir {
        CacheDir { dir }
    }

    /// `<config dir>/credentials`.
    pub fn from_env() -> Result<CacheDir, Error> {
        Ok(CacheDir::new(config_dir()?.join("credentials")))
    }

    pub fn path(&self, host: &RegistryHost) -> PathBuf {
        self.dir.join(format!("{}.json", host.file_stem()))
    }

    /// Creates the directory (0700) if needed; refuses one that is a symlink or not ours.
    fn ensure_dir(&self) -> Result<(), Error> {
        if let Some(parent) = self.dir.parent() {
            fs::create_dir_all(parent).map_err(|e| Error::io(parent, &e))?;
        }
        let mut builder = fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        match builder.create(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => self.check_dir(),
            Err(e) => Err(Error::io(&self.dir, &e)),
        }
    }

    fn check_dir(&self) -> Result<(), Error> {
        let meta = fs::symlink_metadata(&self.dir).map_err(|e| Error::io(&self.dir, &e))?;
        if !meta.file_type().is_dir() {
            return Err(Error::Io {
                path: self.dir.display().to_string(),
                reason: "is not a directory (a symlink is refused)".into(),
            });
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt as _;
            if meta.uid() != current_uid() || meta.mode() & 0o077 != 0 {
                return Err(Error::Io {
                    path: self.dir.display().to_string(),
                    reason: "must be owned by you with mode 0700 (chmod 700 it)".into(),
                });
            }
        }
        Ok(())
    }

    /// The cached credential for `host`, if a well-formed one is there. A malformed file is an
    /// error naming it (the person can delete it), never a credential.
    pub fn load(&self, host: &RegistryHost) -> Result<Option<Cached>, Error> {
        let path = self.path(host);
        let Some(bytes) = read_private(&path)? else {
            return Ok(None);
        };
        let cached: Cached = serde_json::from_slice(&bytes).map_err(|e| Error::Io {
            path: path.display().to_string(),
            reason: format!("not a Tollgate credential file ({e}); delete it"),
        })?;
        if cached.format != FORMAT || cached.registry != host.as_str() {
            return Err(Error::Io {
                path: path.display().to_string(),
                reason: "holds a credential for another registry or format; delete it".into(),
            });
        }
        Ok(Some(cached))
    }

    pub fn save(&self, cached: &Cached) -> Result<PathBuf, Error> {
        self.ensure_dir()?;
        let host = RegistryHost::parse(&cached.registry)?;
        let path = self.path(&host);
        let json = serde_json::to_vec_pretty(cached).map_err(|e| Error::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".credential-")
            .suffix(".tmp")
            .tempfile_in(&self.dir)
            .map_err(|e| Error::io(&self.dir, &e))?;
        // tempfile creates it 0600 with O_EXCL under a random name.
        tmp.write_all(&json)
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(|e| Error::io(tmp.path(), &e))?;
        tmp.persist(&path).map_err(|e| Error::io(&path, &e.error))?;
        Ok(path)
    }

    /// Removes `host`'s credential; `false` when there was none.
    pub fn erase(&self, host: &RegistryHost) -> Result<bool, Error> {
        let path = self.path(host);
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io(&path, &e)),
        }
    }

    /// Every usable cached credential's registry -> username (malformed files are skipped).
    pub fn list(&self, now: u64) -> Result<BTreeMap<String, String>, Error> {
        let mut out = BTreeMap::new();
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(Error::io(&self.dir, &e)),
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            let Ok(host) = RegistryHost::parse(&stem.replace('_', ":")) else {
                continue;
            };
            if let Ok(Some(c)) = self.load(&host) {
                if c.usable(now) {
                    out.insert(c.registry, c.username);
                }
            }
        }
        Ok(out)
    }
}

/// The bytes of a regular file we own, not through a symlink, at most [`MAX_FILE`]; `None` if absent.
pub fn read_private(path: &Path) -> Result<Option<Vec<u8>>, Error> {
    let before = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, &e)),
    };
    let refuse = |reason: &str| Error::Io {
        path: path.display().to_string(),
        reason: reason.into(),
    };
    if !before.file_type().is_file() {
        return Err(refuse("is not a regular file (a symlink is refused)"));
    }
    let file = fs::File::open(path).map_err(|e| Error::io(path, &e))?;
    let after = file.metadata().map_err(|e| Error::io(path, &e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        // The file opened is the one inspected (no swap in between), and it is ours.
        if (before.dev(), before.ino()) != (after.dev(), after.ino()) {
            return Err(refuse("changed while being opened"));
        }
        if after.uid() != current_uid() {
            return Err(refuse("is not owned by you"));
        }
    }
    if after.len() > MAX_FILE {
        return Err(refuse("is too large"));
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, &e))?;
    Ok(Some(bytes))
}

#[cfg(unix)]
fn current_uid() -> u32 {
    rustix::process::getuid().as_raw()
}
