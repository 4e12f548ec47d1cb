//! The libtrust key ID: the only `kid` form docker-registry 2.8 matches against its rootcertbundle.

use sha2::{Digest, Sha256};

/// SHA-256 of the DER SubjectPublicKeyInfo, first 30 bytes, RFC 4648 base32 (upper case, no
/// padding, 48 characters) in groups of four joined by ':' (docker/libtrust `keyIDFromCryptoKey`).
pub(crate) fn libtrust_key_id(spki_der: &[u8]) -> String {
    let digest = Sha256::digest(spki_der);
    let encoded = data_encoding::BASE32_NOPAD.encode(&digest[..30]);
    let mut out = String::with_capacity(59);
    for (i, c) in encoded.chars().enumerate() {
        if i > 0 && i % 4 == 0 {
            out.push(':');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_is_twelve_groups_of_four() {
        let kid = libtrust_key_id(b"anything");
        assert_eq!(kid.len(), 59);
        let groups: Vec<&str> = kid.split(':').collect();
        assert_eq!(groups.len(), 12);
        assert!(groups.iter().all(|g| g.len() == 4));
        assert!(kid
            .chars()
            .all(|c| c == ':' || c.is_ascii_uppercase() || ('2'..='7').contains(&c)));
    }

    #[test]
    fn known_vector() {
        // Obtained independently with coreutils:
        //   printf 'abc' | openssl dgst -sha256 -binary | head -c 30 | base32 | tr -d '=' | fold -w4 | paste -sd:
        assert_eq!(libtrust_key_id(b"abc"), KNOWN_ABC);
    }

    const KNOWN_ABC: &str = "XJ4B:NP4P:AHH6:UQKB:IDPF:3LRC:EOYA:GYND:SYLX:VHFU:CD7W:D4QA";
}
