//! A certificate's public key, as the worker reads it (SIGNING_CERT, certificate bundles, and the
//! `x5c` leaf of tokens presented to the proxy: untrusted DER). Tollgate walks the certificate with
//! der's reader instead of decoding it in full with x509-cert; this target checks the walk against
//! x509-cert on arbitrary bytes: whenever x509-cert decodes a certificate whose key Tollgate
//! supports, Tollgate must read the same key from it. (Tollgate may accept more: it does not decode
//! names, times or extensions, and the signature on a certificate is never what trust rests on:
//! keys are trusted by equality with configured ones.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_core::token::PublicKey;
use x509_cert::der::{Decode as _, Encode as _};

fuzz_target!(|der: &[u8]| {
    let ours = PublicKey::from_certificate_der(der);
    let Ok(cert) = x509_cert::Certificate::from_der(der) else {
        return;
    };
    let Ok(spki) = cert.tbs_certificate().subject_public_key_info().to_der() else {
        return;
    };
    if let Ok(expected) = PublicKey::from_spki_der(&spki) {
        assert_eq!(
            ours.ok(),
            Some(expected),
            "x509-cert decodes this certificate's key, Tollgate's walk does not agree"
        );
    }
});
