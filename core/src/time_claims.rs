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

    const L: u64 = CLOCK_LEEWAY_SECS;

    fn claims(exp: u64, nbf: Option<u64>, iat: Option<u64>) -> TimeClaims {
        TimeClaims { exp, nbf, iat }
    }

    #[test]
    fn the_leeway_is_sixty_seconds_as_distribution_allows() {
        assert_eq!(CLOCK_LEEWAY_SECS, 60);
    }

    #[test]
    fn exp_is_accepted_through_exp_plus_leeway_inclusive() {
        let t = claims(1_000, None, None);
        assert_eq!(t.check_now(1_000 + L), Ok(()));
        assert_eq!(
            t.check_now(1_000 + L + 1),
            Err(TimeError::Expired {
                exp: 1_000,
                now: 1_000 + L + 1
            })
        );
        assert_eq!(t.check(1_000, 0), Ok(()));
        assert!(t.check(1_001, 0).is_err());
    }

    #[test]
    fn nbf_is_accepted_from_nbf_minus_leeway_inclusive() {
        let t = claims(10_000, Some(5_000), None);
        assert_eq!(t.check_now(5_000 - L), Ok(()));
        assert_eq!(
            t.check_now(5_000 - L - 1),
            Err(TimeError::NotYetValid {
                nbf: 5_000,
                now: 5_000 - L - 1
            })
        );
    }

    #[test]
    fn iat_in_the_future_beyond_the_leeway_is_refused_only_when_checked() {
        let t = claims(10_000, None, Some(5_000));
        assert_eq!(t.check_now(5_000 - L), Ok(()));
        assert_eq!(
            t.check_now(5_000 - L - 1),
            Err(TimeError::IssuedInFuture {
                iat: 5_000,
                now: 5_000 - L - 1
            })
        );
        assert_eq!(claims(10_000, None, None).check_now(0), Ok(()));
    }

    #[test]
    fn expiry_is_reported_before_the_other_claims() {
        let t = claims(100, Some(u64::MAX), Some(u64::MAX));
        assert!(matches!(t.check_now(1_000), Err(TimeError::Expired { .. })));
        let t = claims(u64::MAX, Some(u64::MAX), Some(u64::MAX));
        assert!(matches!(t.check_now(0), Err(TimeError::NotYetValid { .. })));
    }

    #[test]
    fn extreme_values_saturate_rather_than_overflow() {
        assert_eq!(
            claims(u64::MAX, Some(0), Some(0)).check_now(u64::MAX),
            Ok(())
        );
        assert_eq!(claims(0, None, None).check(0, u64::MAX), Ok(()));
    }
}
