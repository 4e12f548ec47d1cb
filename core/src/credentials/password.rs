//! bcrypt password checks (htpasswd-compatible: `$2a$`, `$2b$`, `$2y$`).

/// A real bcrypt hash (cost 10) of a random value nobody knows. Checking a password against it
/// costs what a real check costs, so an unknown account answers in the same time as a known one.
pub(crate) const DUMMY_HASH: &str = "$2y$10$8pu5jNbFk0ZyEDTxAOlRuu0NO8zuu7GzWuFkb3JKk7Xt0.Pd8Rq6e";

/// Whether `password` matches `bcrypt_hash`. A malformed hash is a mismatch (and never a grant).
/// bcrypt reads only the first 72 bytes of a password; the crate refuses longer ones, which we
/// treat as a mismatch rather than silently truncating.
///
/// A hash the shared validator refuses (over the cost cap, bad alphabet) is a mismatch without
/// running bcrypt: a cost-31 hash would never finish, cost 17 takes 11.7 s of worker CPU. Record
/// reading refuses such hashes first (a 500 naming the record); this keeps the cap on every path.
pub(crate) fn verify_password(password: &str, bcrypt_hash: &str) -> bool {
    if crate::validate::stored_bcrypt_hash(bcrypt_hash).is_err() {
        return false;
    }
    #[cfg(test)]
    runs::count();
    bcrypt::verify(password, bcrypt_hash).unwrap_or(false)
}

/// Spends one bcrypt check's time without looking anything up.
pub(crate) fn burn_equal_time(password: &str) {
    #[cfg(test)]
    runs::count();
    let _ = bcrypt::verify(password, DUMMY_HASH);
}

/// Counts bcrypt checks on this thread, so tests can prove which paths run exactly one.
#[cfg(test)]
pub(crate) mod runs {
    use std::cell::Cell;
    thread_local! {
        static RUNS: Cell<u32> = const { Cell::new(0) };
    }
    pub(crate) fn count() {
        RUNS.with(|r| r.set(r.get() + 1));
    }
    /// bcrypt checks run by `f` on this thread.
    pub(crate) fn during<T>(f: impl FnOnce() -> T) -> (T, u32) {
        let before = RUNS.with(Cell::get);
        let out = f();
        (out, RUNS.with(Cell::get) - before)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_all_htpasswd_prefixes() {
        let h = bcrypt::hash_with_salt("s3cret", 4, [7u8; 16]).unwrap();
        for v in [
            bcrypt::Version::TwoA,
            bcrypt::Version::TwoB,
            bcrypt::Version::TwoY,
        ] {
            let s = h.format_for_version(v);
            assert!(verify_password("s3cret", &s), "{s}");
            assert!(!verify_password("wrong", &s));
        }
    }

    #[test]
    fn hashes_over_the_cost_cap_never_run_bcrypt() {
        let h = bcrypt::hash_with_salt("s3cret", 10, [7u8; 16])
            .unwrap()
            .format_for_version(bcrypt::Version::TwoY);
        // Cost 31 would never finish; counted runs prove bcrypt was not started.
        let over = format!("$2y$31{}", &h[6..]);
        let (ok, n) = runs::during(|| verify_password("s3cret", &over));
        assert!(!ok);
        assert_eq!(n, 0, "bcrypt ran on a cost-31 hash");
        let (ok, n) = runs::during(|| verify_password("s3cret", &h));
        assert!(ok);
        assert_eq!(n, 1);
    }

    /// Hashes made elsewhere keep verifying across bcrypt crate upgrades: OpenBSD's reference
    /// vector, and the demo policy's `alice` (written by the CLI on bcrypt 0.15, policy/demo.toml).
    #[test]
    fn verifies_hashes_made_by_other_implementations_and_versions() {
        let openbsd = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";
        assert!(verify_password("U*U", openbsd));
        assert!(!verify_password("U*V", openbsd));
        let alice_015 = "$2b$10$LffUs7B/MgHNcUX/TGSZYu5Udvl1T2wR2PoJ2m4cD1SiTsdCocDrK";
        assert!(verify_password("alice-demo-pass", alice_015));
        assert!(!verify_password("alice-demo-pasS", alice_015));
    }

    #[test]
    fn malformed_hash_is_a_mismatch() {
        assert!(!verify_password("x", "not-a-hash"));
        assert!(!verify_password("x", ""));
    }

    #[test]
    fn dummy_hash_is_a_well_formed_cost_10_hash() {
        let parts: Vec<&str> = DUMMY_HASH.split('$').collect();
        assert_eq!(parts[2], "10");
        // Well formed: verification runs and fails instead of erroring.
        assert_eq!(bcrypt::verify("guess", DUMMY_HASH).ok(), Some(false));
    }
}
