//! The fuzz target bodies (`fuzz/src/lib.rs`), built against the crate and run on the
//! committed seeds in `fuzz/seeds/`. Fuzzing itself (`make fuzz`) is not part of CI; this
//! keeps its code compiling and checks that the seeds still reach as deep as they were chosen to.

#[path = "../fuzz/src/lib.rs"]
mod fuzz_bodies;

use std::path::Path;

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no seeds in {}", dir.display());
    out
}

#[test]
fn verify_token_seeds_reach_the_claim_checks() {
    let seeds = seeds("verify_token");
    let accepted: Vec<&str> = seeds
        .iter()
        .filter(|(_, data)| fuzz_bodies::verify_token(data))
        .map(|(name, _)| name.as_str())
        .collect();
    // The target's fixed keys are RFC 7515 A.1's and A.2's: their tokens pass every check.
    assert_eq!(accepted, ["rfc7515_a1_hs256.jwt", "rfc7515_a2_rs256.jwt"]);

    // One changed signature character and the same seed is refused.
    let (_, a1) = seeds
        .iter()
        .find(|(name, _)| name == "rfc7515_a1_hs256.jwt")
        .unwrap();
    let mut damaged = a1.clone();
    let i = damaged.len() - 5;
    damaged[i] = if damaged[i] == b'A' { b'B' } else { b'A' };
    assert!(!fuzz_bodies::verify_token(&damaged));

    for junk in [
        &b""[..],
        b".",
        b"..",
        b"a.b.c",
        b"\xff\xfe.\x00.",
        &[b'['; 4096],
    ] {
        assert!(!fuzz_bodies::verify_token(junk));
    }
}

#[test]
fn jwks_seeds_load_their_keys() {
    for (name, data) in seeds("jwks") {
        let want = match name.as_str() {
            "rfc7515_keys.json" => 3,
            "rfc7520_keys.json" => 2,
            "rfc7520_hmac_key.json" => 1,
            "mixed_usable_and_skipped.json" => 1,
            "rfc8037_okp_jwk.json" => 1,
            n if n.ends_with(".pem") => 1,
            n => panic!("seed {n} has no expectation here"),
        };
        assert_eq!(fuzz_bodies::jwks(&data), want, "{name}");
    }
    for junk in [
        &b""[..],
        b"{}",
        b"{\"keys\":[]}",
        b"-----BEGIN PUBLIC KEY-----",
        &[b'['; 4096],
    ] {
        assert_eq!(fuzz_bodies::jwks(junk), 0);
    }
}

/// The newer targets' seeds run through their bodies (which assert what must hold), and
/// reach what they were chosen for.
#[test]
fn gateway_policy_response_and_parser_seeds_run() {
    let forwarded: Vec<String> = seeds("gateway_decide")
        .into_iter()
        .filter(|(_, data)| fuzz_bodies::gateway_decide(data))
        .map(|(name, _)| name)
        .collect();
    // The key as a bearer token or a query parameter, a valid token, an opaque token the
    // endpoint says is active, a preflight: forwarded. An endpoint answering 500, or an answer
    // with an `exp` that is not a number, is refused.
    assert_eq!(
        forwarded,
        [
            "api_key_bearer.txt",
            "api_key_query.txt",
            "introspected_active.txt",
            "preflight.txt",
            "rfc7515_token.txt"
        ]
    );
    for target in [
        "gateway_config",
        "key_store",
        "policy",
        "oauth_responses",
        "webhook",
        "cidr_and_rate_limit",
    ] {
        for (_, data) in seeds(target) {
            match target {
                "gateway_config" => fuzz_bodies::gateway_config(&data),
                "key_store" => fuzz_bodies::key_store(&data),
                "policy" => fuzz_bodies::policy(&data),
                "oauth_responses" => fuzz_bodies::oauth_responses(&data),
                "webhook" => fuzz_bodies::webhook(&data),
                _ => fuzz_bodies::cidr_and_rate_limit(&data),
            }
        }
    }
}
