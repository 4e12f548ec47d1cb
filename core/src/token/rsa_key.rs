//! RSA keys for RS256: rsa 0.9's arithmetic, read and written through pkcs1 0.8 / pkcs8 0.11 /
//! spki 0.8, the der generation p256 0.14 uses, so the worker carries one DER stack.
//!
//! Why not rsa 0.10 (crypto-bigint, constant-time): measured in this worker, its arithmetic costs
//! 110 KB of wasm (39 KB gzip) against 38 KB (13 KB gzip) for rsa 0.9's num-bigint-dig, and the
//! worker would no longer fit its 300 KB gzip budget next to p256 0.14. rsa 0.9's private-key
//! operations are not constant-time (RUSTSEC-2023-0071), so Tollgate signs with blinding (see
//! `alg::Rs256`); SECURITY.md says what that covers.

use pkcs1::der::{Decode as _, Encode as _};
use pkcs1::{RsaPrivateKeyRef, RsaPublicKeyRef, UintRef};
use rsa::traits::PublicKeyParts as _;
use rsa::BigUint;
use x509_cert::spki::{SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};

fn uint(u: UintRef<'_>) -> BigUint {
    BigUint::from_bytes_be(u.as_bytes())
}

/// A PKCS#1 `RSAPrivateKey` (two primes; multi-prime keys are refused), checked by rsa
/// (`from_components` validates the key and precomputes its CRT values).
pub(crate) fn private_from_pkcs1_der(der: &[u8]) -> Option<rsa::RsaPrivateKey> {
    let k = RsaPrivateKeyRef::from_der(der).ok()?;
    if k.other_prime_infos.is_some() {
        return None;
    }
    let primes = vec![uint(k.prime1), uint(k.prime2)];
    rsa::RsaPrivateKey::from_components(
        uint(k.modulus),
        uint(k.public_exponent),
        uint(k.private_exponent),
        primes,
    )
    .ok()
}

/// A PKCS#8 `PrivateKeyInfo` whose algorithm is rsaEncryption.
pub(crate) fn private_from_pkcs8_der(der: &[u8]) -> Option<rsa::RsaPrivateKey> {
    let info = p256::pkcs8::PrivateKeyInfoRef::from_der(der).ok()?;
    if info.algorithm.oid != pkcs1::ALGORITHM_OID {
        return None;
    }
    private_from_pkcs1_der(info.private_key.as_bytes())
}

/// A SubjectPublicKeyInfo whose algorithm is rsaEncryption.
pub(crate) fn public_from_spki_der(der: &[u8]) -> Option<rsa::RsaPublicKey> {
    let spki = SubjectPublicKeyInfoRef::from_der(der).ok()?;
    if spki.algorithm.oid != pkcs1::ALGORITHM_OID {
        return None;
    }
    let k = RsaPublicKeyRef::from_der(spki.subject_public_key.as_bytes()?).ok()?;
    rsa::RsaPublicKey::new(uint(k.modulus), uint(k.public_exponent)).ok()
}

/// DER SubjectPublicKeyInfo (rsaEncryption with NULL parameters, as OpenSSL writes it).
pub(crate) fn public_to_spki_der(key: &rsa::RsaPublicKey) -> Option<Vec<u8>> {
    let (n, e) = (key.n().to_bytes_be(), key.e().to_bytes_be());
    let pkcs1 = RsaPublicKeyRef {
        modulus: UintRef::new(&n).ok()?,
        public_exponent: UintRef::new(&e).ok()?,
    }
    .to_der()
    .ok()?;
    SubjectPublicKeyInfoOwned {
        algorithm: pkcs1::ALGORITHM_ID.into(),
        subject_public_key: x509_cert::der::asn1::BitString::from_bytes(&pkcs1).ok()?,
    }
    .to_der()
    .ok()
}

/// PKCS#8 DER of a private key (the CLI writes it out; never in the worker's paths).
pub(crate) fn private_to_pkcs8_der(key: &rsa::RsaPrivateKey) -> Option<Vec<u8>> {
    use rsa::pkcs8::EncodePrivateKey as _;
    key.to_pkcs8_der().ok().map(|d| d.as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::keys::tests::rsa_key;
    use crate::token::SigningKey;

    fn key() -> rsa::RsaPrivateKey {
        let SigningKey::Rs256(k) = rsa_key() else {
            unreachable!()
        };
        k
    }

    #[test]
    fn pkcs8_and_spki_round_trip_and_agree_with_rsa_09() {
        let k = key();
        let der = private_to_pkcs8_der(&k).unwrap();
        assert_eq!(private_from_pkcs8_der(&der).unwrap(), k);
        let public = k.to_public_key();
        let spki = public_to_spki_der(&public).unwrap();
        // rsa 0.9's own encoder (der 0.7) writes the same bytes.
        use rsa::pkcs8::EncodePublicKey as _;
        assert_eq!(spki, public.to_public_key_der().unwrap().as_bytes());
        assert_eq!(public_from_spki_der(&spki).unwrap(), public);
    }

    #[test]
    fn pkcs1_is_read_and_other_algorithms_are_refused() {
        use rsa::pkcs1::EncodeRsaPrivateKey as _;
        let k = key();
        let pkcs1 = k.to_pkcs1_der().unwrap();
        assert_eq!(private_from_pkcs1_der(pkcs1.as_bytes()).unwrap(), k);
        // A P-256 key in PKCS#8 / SPKI is not an RSA key.
        let ec = crate::token::keys::tests::es_key();
        let SigningKey::Es256(ec) = ec else {
            unreachable!()
        };
        use p256::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _};
        assert!(private_from_pkcs8_der(ec.to_pkcs8_der().unwrap().as_bytes()).is_none());
        let ec_spki = ec.verifying_key().to_public_key_der().unwrap();
        assert!(public_from_spki_der(ec_spki.as_bytes()).is_none());
        // Truncated input is refused, not a panic.
        let der = private_to_pkcs8_der(&k).unwrap();
        for cut in [0, 1, 10, der.len() / 2, der.len() - 1] {
            assert!(private_from_pkcs8_der(&der[..cut]).is_none(), "cut {cut}");
        }
    }

    #[test]
    fn a_key_whose_primes_do_not_match_its_modulus_is_refused() {
        use rsa::traits::PrivateKeyParts as _;
        let (a, b) = (
            key(),
            rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap(),
        );
        let bytes = |x: &BigUint| x.to_bytes_be();
        let (n, e, d) = (bytes(a.n()), bytes(a.e()), bytes(a.d()));
        let (p, q) = (bytes(&b.primes()[0]), bytes(&b.primes()[1]));
        let (dp, dq) = (bytes(b.dp().unwrap()), bytes(b.dq().unwrap()));
        fn u(v: &[u8]) -> UintRef<'_> {
            UintRef::new(v).unwrap()
        }
        let mixed = RsaPrivateKeyRef {
            modulus: u(&n),
            public_exponent: u(&e),
            private_exponent: u(&d),
            prime1: u(&p),
            prime2: u(&q),
            exponent1: u(&dp),
            exponent2: u(&dq),
            coefficient: u(&[1]),
            other_prime_infos: None,
        }
        .to_der()
        .unwrap();
        assert!(
            RsaPrivateKeyRef::from_der(&mixed).is_ok(),
            "well-formed DER"
        );
        assert!(private_from_pkcs1_der(&mixed).is_none());
    }
}
