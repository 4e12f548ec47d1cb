//! The one check of a JWT's time claims, shared by registry tokens (`token::verify`) and identity
//! tokens (`federation::identity`, which sign-in's ID tokens go through too): `exp`, `nbf` and
//! `iat` against the caller's clock with [`CLOCK_LEEWAY_SECS`] of skew either way.

use crate::limits::CLOCK_LEEWAY_SECS;

/// A token's time claims, in Unix seconds. `None` means "not present, not checked".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeClaims {
    pub(crate) exp: u64,
    pub(crate) nbf: Option<u64>,
    /// Registry tokens leave this out, as distribution does: only identity tokens refuse an
    /// `iat` in the future.
    pub(crate) iat: Option<u64>,
}

/// Which time claim failed, with the values the caller's message needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeError {
    Expired { exp: u64, now: u64 },
    NotYetValid { nbf: u64, now: u64 },
    IssuedInFuture { iat: u64, now: u64 },
}

impl TimeClaims {
    /// Valid while `now <= exp + leeway`, from `nbf - leeway`, and refuses `iat > now + leeway`.
    /// Checked in that order (exp first), so an old token is reported as expired.
    pub(crate) fn check(&self, now: u64, leeway: u64) -> Result<(), TimeError> {
        if now > self.exp.saturating_add(leeway) {
            return Err(TimeError::Expired { exp: self.exp, now });
        }
        if let Some(nbf) = self.nbf {
            if nbf > now.saturating_add(leeway) {
                return Err(TimeError::NotYetValid { nbf, now });
            }
        }
        if let Some(iat) = self.iat {
            if iat > now.saturating_add(leeway) {
                return Err(TimeError::IssuedInFuture { iat, now });
            }
        }
        Ok(())
    }

    /// [`check`](Self::check) with the one leeway every verifier in Tollgate uses.
    pub(crate) fn check_now(&self, now: u64) -> Result<(), TimeError> {
        self.check(now, CLOCK_LEEWAY_SECS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TimeError::*;

    const L: u64 = CLOCK_LEEWAY_SECS;

    #[test]
    fn the_leeway_is_sixty_seconds_as_distribution_allows() {
        assert_eq!(CLOCK_LEEWAY_SECS, 60);
    }

    /// (exp, nbf, iat, now, leeway, outcome).
    type Edge = (
        u64,
        Option<u64>,
        Option<u64>,
        u64,
        u64,
        Result<(), TimeError>,
    );

    /// Each bound is inclusive; one second past it fails.
    #[rustfmt::skip]
    const EDGES: &[Edge] = &[
        // exp is accepted through exp + leeway.
        (1_000, None, None, 1_000 + L, L, Ok(())),
        (1_000, None, None, 1_000 + L + 1, L, Err(Expired { exp: 1_000, now: 1_000 + L + 1 })),
        (1_000, None, None, 1_000, 0, Ok(())),
        (1_000, None, None, 1_001, 0, Err(Expired { exp: 1_000, now: 1_001 })),
        // nbf is accepted from nbf - leeway.
        (10_000, Some(5_000), None, 5_000 - L, L, Ok(())),
        (10_000, Some(5_000), None, 5_000 - L - 1, L, Err(NotYetValid { nbf: 5_000, now: 5_000 - L - 1 })),
        // iat in the future beyond the leeway is refused, only when it is checked.
        (10_000, None, Some(5_000), 5_000 - L, L, Ok(())),
        (10_000, None, Some(5_000), 5_000 - L - 1, L, Err(IssuedInFuture { iat: 5_000, now: 5_000 - L - 1 })),
        (10_000, None, None, 0, L, Ok(())),
        // Expiry is reported before the other claims, nbf before iat.
        (100, Some(u64::MAX), Some(u64::MAX), 1_000, L, Err(Expired { exp: 100, now: 1_000 })),
        (u64::MAX, Some(u64::MAX), Some(u64::MAX), 0, L, Err(NotYetValid { nbf: u64::MAX, now: 0 })),
        // Extreme values saturate rather than overflow.
        (u64::MAX, Some(0), Some(0), u64::MAX, L, Ok(())),
        (0, None, None, 0, u64::MAX, Ok(())),
    ];

    #[test]
    fn each_edge_of_exp_nbf_and_iat() {
        for &(exp, nbf, iat, now, leeway, want) in EDGES {
            let t = TimeClaims { exp, nbf, iat };
            assert_eq!(
                t.check(now, leeway),
                want,
                "{t:?} at {now}, leeway {leeway}"
            );
        }
    }

    #[test]
    fn check_now_uses_the_one_leeway() {
        let t = TimeClaims {
            exp: 1_000,
            nbf: None,
            iat: None,
        };
        assert_eq!(t.check_now(1_000 + L), Ok(()));
        assert!(t.check_now(1_000 + L + 1).is_err());
    }
}
