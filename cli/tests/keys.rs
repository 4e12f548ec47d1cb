//! `tollgate keys ...` against the built binary.

mod common;

use common::*;
use std::fs;

fn kid_shape(kid: &str) -> bool {
    kid.len() == 59
        && kid.split(':').count() == 12
        && kid.split(':').all(|g| {
            g.len() == 4
                && g.chars()
                    .all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c))
        })
}

#[test]
fn generate_writes_key_and_certificate_and_prints_the_kid() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("keys");
    let r = tg(
        "keys generate --alg es256 --out-dir {} --name signing",
        &[out.to_str().unwrap()],
    );
    r.succeeded();
    let kid = r.stdout.trim();
    assert!(kid_shape(kid), "{kid}");
    let key = fs::read_to_string(out.join("signing.key.pem")).unwrap();
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    let cert = fs::read_to_string(out.join("signing.crt.pem")).unwrap();
    assert!(cert.starts_with("-----BEGIN CERTIFICATE-----\n"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(out.join("signing.key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The certificate carries the same key: `keys show` on either prints the same kid.
    let from_cert = tg(
        "keys show {}",
        &[out.join("signing.crt.pem").to_str().unwrap()],
    );
    assert!(from_cert.stdout.contains(kid), "{}", from_cert.stdout);
}

#[test]
fn generate_refuses_to_overwrite_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let first = tg("keys generate --alg es256 --out-dir {} --name k", &[d]);
    first.succeeded();
    let again = tg("keys generate --alg es256 --out-dir {} --name k", &[d]);
    again.fails(1, "k.key.pem already exists");
    again.stderr_has("--force");
    let forced = tg(
        "keys generate --alg es256 --out-dir {} --name k --force",
        &[d],
    );
    forced.succeeded();
    assert_ne!(forced.stdout, first.stdout, "--force must make a new key");
}

#[test]
fn generate_rejects_bad_flags_with_what_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let r = tg("keys generate --alg hs256 --out-dir {} --name k", &[d]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("es256") && r.stderr.contains("rs256"),
        "{}",
        r.stderr
    );
    tg(
        "keys generate --alg es256 --out-dir {} --name ../escape",
        &[d],
    )
    .fails(1, "--name \"../escape\" is not valid");
    let r = tg(
        "keys generate --alg rs256 --out-dir {} --name r --bits 1024",
        &[d],
    );
    r.stderr_has("--bits 1024 is not supported");
    let r = tg(
        "keys generate --alg es256 --out-dir {} --name k --days 0",
        &[d],
    );
    r.stderr_has("--days 0 is out of range");
    assert!(
        !dir.path().join("k.key.pem").exists(),
        "nothing written on error"
    );
}

#[test]
fn dev_vars_round_trips_through_dotenv_quoting() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    for (alg, name) in [
        ("es256", "signing"),
        ("rs256", "rsa-signing"),
        ("es256", "signing-next"),
    ] {
        let r = tg(
            "keys generate --alg {} --out-dir {} --name {}",
            &[alg, d, name],
        );
        r.succeeded();
    }
    let r = tg_in(Some(dir.path()), "keys dev-vars --dir .", &[]);
    r.succeeded();
    let mut names = Vec::new();
    for line in r.stdout.lines().filter(|l| !l.starts_with('#')) {
        let (name, value) = line.split_once('=').unwrap();
        names.push(name);
        // One line, double-quoted, newlines escaped: what wrangler's dotenv parser expects.
        let inner = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap();
        assert!(!inner.contains('"'));
        let unescaped = inner.replace("\\n", "\n");
        let file = match name {
            "SIGNING_KEY" => "signing.key.pem",
            "SIGNING_CERT" => "signing.crt.pem",
            "RSA_SIGNING_KEY" => "rsa-signing.key.pem",
            "PUBLISHED_KEYS" => "signing-next.crt.pem",
            other => panic!("unexpected variable {other}"),
        };
        assert_eq!(
            unescaped,
            fs::read_to_string(dir.path().join(file)).unwrap(),
            "{name}"
        );
    }
    assert_eq!(
        names,
        [
            "SIGNING_KEY",
            "SIGNING_CERT",
            "RSA_SIGNING_KEY",
            "PUBLISHED_KEYS"
        ]
    );
}

#[test]
fn dev_vars_without_a_signing_key_says_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    let r = tg("keys dev-vars --dir {}", &[dir.path().to_str().unwrap()]);
    r.fails(1, "tollgate keys generate --alg es256");
    assert!(r.stdout.is_empty());
}

// Expected kids computed independently with openssl:
//   openssl x509 -in F -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum
//   -> first 30 bytes, base32, groups of 4.
const ES256_KID: &str = "KVW2:67HT:5ING:QFUR:G4R6:INEI:XLWH:RBPH:37S4:MAZE:WOCW:4NBK";
const RS256_KID: &str = "OKTB:IMPW:6BHP:X6LT:JYZY:TTBN:3RR6:UY6X:W5GM:E3MS:D5U4:S5R2";

#[test]
fn show_certificate_matches_golden_output() {
    let fixtures = common::crate_dir().join("tests/fixtures");
    let r = tg_in(Some(&fixtures), "keys show es256.crt.pem --env prod", &[]);
    r.succeeded();
    assert!(r.stdout.contains(ES256_KID));
    assert!(r
        .stdout
        .contains(&format!("thumbprint: {ES256_THUMBPRINT}")));
    common::golden("keys-show-es256-cert.txt", &r.stdout);
    tg_in(Some(&fixtures), "keys show rs256.pub.pem", &[]).prints("keys-show-rs256-pub.txt");
}

/// RFC 7638 thumbprints of the fixtures, computed independently with Python and OpenSSL:
/// base64url(sha256(json.dumps(required members, sort_keys=True, separators=(",", ":")))).
const ES256_THUMBPRINT: &str = "J2gPjSbQgzU2wLNoWTZ1qacSpEoGUGBeTMP1BYIkF9Y";
const RS256_THUMBPRINT: &str = "xtq21LITMok2t1R_A5xq4WmZWuJa2IVXDiDXrE0DNrk";

fn kids_of(json: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn jwks_lists_each_key_once_per_kid_form() {
    let es = common::fixture("es256.crt.pem");
    let rs = common::fixture("rs256.crt.pem");
    let pubkey = common::fixture("rs256.pub.pem");
    let r = tg("keys jwks {} {} {}", &[&es, &rs, &pubkey]);
    r.prints("keys-jwks.json");
    assert_eq!(
        kids_of(&r.stdout),
        [ES256_KID, ES256_THUMBPRINT, RS256_KID, RS256_THUMBPRINT]
    );
    let r = tg("keys jwks --kid libtrust {} {} {}", &[&es, &rs, &pubkey]);
    assert_eq!(kids_of(&r.stdout), [ES256_KID, RS256_KID]);
    let r = tg("keys jwks --kid thumbprint {}", &[&es]);
    assert_eq!(kids_of(&r.stdout), [ES256_THUMBPRINT]);
}

#[test]
fn jwks_out_writes_the_file_a_registry_reads() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    fs::create_dir(&keys).unwrap();
    for (from, to) in [
        ("es256.crt.pem", "signing.crt.pem"),
        ("rs256.crt.pem", "signing-next.crt.pem"),
    ] {
        fs::copy(common::fixture(from), keys.join(to)).unwrap();
    }
    let out = dir.path().join("jwks.json");
    let out_s = out.to_str().unwrap();
    // --dir: the active key first, then the next one (a rotation under way).
    let r = tg(
        "keys jwks --dir {} --out {}",
        &[keys.to_str().unwrap(), out_s],
    );
    r.succeeded();
    assert_eq!(r.stdout, "", "--out prints nothing on stdout");
    r.stderr_has("4 JWK entries from 2 files");
    let written = fs::read_to_string(&out).unwrap();
    assert_eq!(
        kids_of(&written),
        [ES256_KID, ES256_THUMBPRINT, RS256_KID, RS256_THUMBPRINT]
    );
    assert!(!written.contains("\"d\""), "no private members");

    // A symlink at --out is replaced, not followed: its target keeps its content.
    #[cfg(unix)]
    {
        let target = dir.path().join("elsewhere.txt");
        fs::write(&target, "untouched").unwrap();
        fs::remove_file(&out).unwrap();
        std::os::unix::fs::symlink(&target, &out).unwrap();
        let es = common::fixture("es256.crt.pem");
        let r = tg("keys jwks --kid thumbprint {} --out {}", &[&es, out_s]);
        r.succeeded();
        assert_eq!(fs::read_to_string(&target).unwrap(), "untouched");
        assert!(!fs::symlink_metadata(&out).unwrap().file_type().is_symlink());
        assert_eq!(
            kids_of(&fs::read_to_string(&out).unwrap()),
            [ES256_THUMBPRINT]
        );
    }
    // Nothing else is left in the directory (no temporary file).
    let mut names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert!(names.iter().all(|n| !n.contains(".tmp")), "{names:?}");

    // Refusals: nothing to read, both inputs, a missing directory for the output.
    let r = tg("keys jwks --out {}", &[out_s]);
    assert_ne!(r.code, 0);
    let es = common::fixture("es256.crt.pem");
    let r = tg("keys jwks {} --dir {}", &[&es, keys.to_str().unwrap()]);
    assert_ne!(r.code, 0);
    let missing = dir.path().join("no/such/dir/jwks.json");
    let r = tg("keys jwks {} --out {}", &[&es, missing.to_str().unwrap()]);
    assert_ne!(r.code, 0);
    r.stderr_has("creating a temporary file");
    let empty = dir.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let r = tg("keys jwks --dir {}", &[empty.to_str().unwrap()]);
    assert_ne!(r.code, 0);
    r.stderr_has("holds no NAME.crt.pem");
}

#[test]
fn bundle_joins_certificates_and_refuses_private_keys() {
    let es = common::fixture("es256.crt.pem");
    let rs = common::fixture("rs256.crt.pem");
    let r = tg("keys bundle {} {} {}", &[&es, &rs, &es]);
    r.succeeded();
    let expected = fs::read_to_string(&es).unwrap() + &fs::read_to_string(&rs).unwrap();
    assert_eq!(r.stdout, expected);

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    tg("keys generate --alg es256 --out-dir {} --name s", &[d]);
    let key = dir.path().join("s.key.pem");
    let r = tg("keys bundle {}", &[key.to_str().unwrap()]);
    r.fails(1, "holds a PRIVATE KEY");
    assert!(r.stdout.is_empty());
    let r = tg("keys bundle {}", &[&common::fixture("rs256.pub.pem")]);
    r.stderr_has("bare PUBLIC KEY");
}

#[test]
fn show_refuses_non_pem_files_without_panicking() {
    tg("keys show {}", &[&common::fixture("../keys.rs")]).fails(1, "no PEM block found");
    tg("keys show /nonexistent/k.pem", &[]).fails(1, "/nonexistent/k.pem: cannot read it");
}

/// The whole rotation on a key directory: what signs and what is published after each step.
#[test]
fn rotation_publishes_next_then_previous_then_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let kid = |file: &str| {
        let r = tg("keys show {}", &[&format!("{d}/{file}")]);
        r.stdout
            .lines()
            .find_map(|l| l.strip_prefix("kid:"))
            .unwrap()
            .trim()
            .to_owned()
    };
    let vars = || {
        let r = tg("keys dev-vars --dir {}", &[d]);
        r.succeeded();
        r.stdout
    };
    let published = |text: &str| -> Option<String> {
        text.lines()
            .find_map(|l| l.strip_prefix("PUBLISHED_KEYS="))
            .map(|v| v.trim_matches('"').replace("\\n", "\n"))
    };
    assert_eq!(
        tg(
            "keys generate --alg es256 --out-dir {} --name signing",
            &[d]
        )
        .code,
        0
    );
    let old = kid("signing.key.pem");
    assert!(published(&vars()).is_none());

    tg("keys rotate switch --dir {}", &[d])
        .fails(1, "start a rotation with `tollgate keys rotate start`");

    let r = tg("keys rotate start --dir {} --env prod", &[d]);
    r.succeeded();
    r.stdout_has("npx wrangler secret put PUBLISHED_KEYS --env prod");
    let next = kid("signing-next.key.pem");
    assert_ne!(old, next);
    let v = vars();
    assert_eq!(
        published(&v).unwrap(),
        fs::read_to_string(dir.path().join("signing-next.crt.pem")).unwrap()
    );
    assert_eq!(
        kid("signing.key.pem"),
        old,
        "start does not change the signing key"
    );
    assert_eq!(
        tg("keys rotate start --dir {}", &[d]).code,
        1,
        "one rotation at a time"
    );

    let r = tg("keys rotate switch --dir {}", &[d]);
    r.succeeded();
    r.stdout_has("npx wrangler secret put SIGNING_KEY <");
    assert_eq!(kid("signing.key.pem"), next);
    assert_eq!(kid("signing.crt.pem"), next);
    assert_eq!(kid("signing-previous.crt.pem"), old);
    assert_eq!(
        published(&vars()).unwrap(),
        fs::read_to_string(dir.path().join("signing-previous.crt.pem")).unwrap()
    );

    let r = tg("keys rotate retire --dir {}", &[d]);
    r.succeeded();
    assert!(!dir.path().join("signing-previous.key.pem").exists());
    assert!(published(&vars()).is_none());
    assert_eq!(kid("signing.key.pem"), next);
    assert_eq!(tg("keys rotate retire --dir {}", &[d]).code, 1);
}

/// The second review: `keys generate --force` wrote the private key to a symlink's target, even a
/// dangling one. Now a symlink at either path is replaced (with --force) or refused (without),
/// never followed.
#[cfg(unix)]
#[test]
fn generate_never_writes_through_a_symlink() {
    use std::os::unix::fs::{symlink, PermissionsExt};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let outside = dir.path().join("outside");
    fs::create_dir(&outside).unwrap();
    let victim = outside.join("victim");
    fs::write(&victim, "keep me").unwrap();
    let nowhere = outside.join("nowhere");
    symlink(&victim, dir.path().join("k.key.pem")).unwrap();
    symlink(&nowhere, dir.path().join("k.crt.pem")).unwrap();
    let gen = |extra: &[&str]| {
        let mut args = vec![
            "keys",
            "generate",
            "--alg",
            "es256",
            "--out-dir",
            d,
            "--name",
            "k",
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    // Without --force a symlink, dangling or not, is something that exists.
    let r = gen(&[]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    r.stderr_has("already exists");
    assert!(!nowhere.exists());
    let r = gen(&["--force"]);
    r.succeeded();
    assert_eq!(fs::read_to_string(&victim).unwrap(), "keep me");
    assert!(!nowhere.exists(), "the dangling link's target was created");
    let key = dir.path().join("k.key.pem");
    let meta = key.symlink_metadata().unwrap();
    assert!(meta.file_type().is_file(), "the link itself was replaced");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert!(fs::read_to_string(&key).unwrap().contains("PRIVATE KEY"));
    // Only the two files (and the outside directory) are left: no temporary file behind.
    let mut names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["k.crt.pem", "k.key.pem", "outside"]);
}
