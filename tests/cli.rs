//! The CLI as a user runs it: exit 0 with JSON on success, 1 with a stable error code when
//! refused, 2 on a usage error.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_tokenwarden");
const NOW: &str = "1800000000";

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("tokenwarden-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }
    fn path(&self, f: &str) -> String {
        self.0.join(f).to_string_lossy().into_owned()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&out.stdout)))
}

fn refused(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(1),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    json(out)["error"]["code"].as_str().unwrap().to_owned()
}

fn stdout(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .trim()
        .to_owned()
}

#[test]
fn api_key_lifecycle() {
    let d = Dir::new("keys");
    let store = d.path("keys.json");
    let created = run(&[
        "keys",
        "create",
        "--type",
        "sk",
        "--env",
        "live",
        "--name",
        "Analytics Dashboard",
        "--permissions",
        "read:datasets,execute:queries",
        "--datasets",
        "sales,customers",
        "--rate-limit",
        "1000/hour",
        "--expires",
        "90d",
        "--allowed-ips",
        "203.0.113.0/24",
        "--store",
        &store,
        "--now",
        NOW,
    ]);
    let created = json(&created);
    let key = created["record"]["id"].as_str().unwrap().to_owned();
    let secret = created["key"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("sk_live_"));
    let on_disk = std::fs::read_to_string(&store).unwrap();
    assert!(
        !on_disk.contains(&secret),
        "the store must hold only the hash"
    );
    assert!(on_disk.contains("sha256:"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&store).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let list = stdout(&run(&["keys", "list", "--store", &store]));
    assert!(!list.contains(&secret) && !list.contains("sha256:"));

    let ok = json(&run(&[
        "keys",
        "check",
        &secret,
        "--ip",
        "203.0.113.7",
        "--now",
        NOW,
        "--store",
        &store,
    ]));
    assert_eq!(ok["accepted"], true);
    assert_eq!(ok["id"], key.as_str());
    assert_eq!(
        refused(&run(&[
            "keys",
            "check",
            &secret,
            "--ip",
            "198.51.100.1",
            "--now",
            NOW,
            "--store",
            &store
        ])),
        "ip_not_allowed"
    );
    assert_eq!(
        refused(&run(&[
            "keys",
            "check",
            &secret,
            "--ip",
            "203.0.113.7",
            "--env",
            "test",
            "--now",
            NOW,
            "--store",
            &store
        ])),
        "wrong_environment"
    );
    let later = (NOW.parse::<u64>().unwrap() + 91 * 86_400).to_string();
    assert_eq!(
        refused(&run(&[
            "keys",
            "check",
            &secret,
            "--ip",
            "203.0.113.7",
            "--now",
            &later,
            "--store",
            &store
        ])),
        "expired_api_key"
    );
    let mut typo = secret.clone();
    typo.replace_range(10..11, if &secret[10..11] == "a" { "b" } else { "a" });
    assert_eq!(
        refused(&run(&["keys", "check", &typo, "--store", &store])),
        "invalid_api_key"
    );

    let rotated = json(&run(&[
        "keys",
        "rotate",
        &key,
        "--overlap",
        "1h",
        "--now",
        NOW,
        "--store",
        &store,
    ]));
    let new_secret = rotated["key"].as_str().unwrap().to_owned();
    assert_eq!(rotated["record"]["rotated_from"], key.as_str());
    let in_overlap = (NOW.parse::<u64>().unwrap() + 1800).to_string();
    let after_overlap = (NOW.parse::<u64>().unwrap() + 7200).to_string();
    for s in [&secret, &new_secret] {
        assert_eq!(
            json(&run(&[
                "keys",
                "check",
                s,
                "--ip",
                "203.0.113.7",
                "--now",
                &in_overlap,
                "--store",
                &store
            ]))["accepted"],
            true
        );
    }
    assert_eq!(
        refused(&run(&[
            "keys",
            "check",
            &secret,
            "--ip",
            "203.0.113.7",
            "--now",
            &after_overlap,
            "--store",
            &store
        ])),
        "expired_api_key"
    );

    stdout(&run(&[
        "keys", "revoke", &key, "--now", NOW, "--store", &store,
    ]));
    assert_eq!(
        refused(&run(&[
            "keys",
            "check",
            &secret,
            "--ip",
            "203.0.113.7",
            "--now",
            NOW,
            "--store",
            &store
        ])),
        "revoked_api_key"
    );
}

#[test]
fn custom_prefixes_and_test_keys() {
    let d = Dir::new("prefix");
    let store = d.path("keys.json");
    let c = json(&run(&[
        "keys",
        "create",
        "--type",
        "sk",
        "--env",
        "live",
        "--prefix",
        "olytix-core_key_",
        "--name",
        "My Application",
        "--store",
        &store,
    ]));
    let secret = c["key"].as_str().unwrap();
    assert!(secret.starts_with("olytix-core_key_"));
    assert_eq!(
        json(&run(&["keys", "check", secret, "--store", &store]))["accepted"],
        true
    );
    let t = json(&run(&[
        "keys", "create", "--type", "sk", "--env", "test", "--name", "ci", "--store", &store,
    ]));
    let test_key = t["key"].as_str().unwrap();
    assert_eq!(
        refused(&run(&[
            "keys", "check", test_key, "--env", "live", "--store", &store
        ])),
        "wrong_environment"
    );
}

fn generate(d: &Dir, alg: &str) -> (String, String) {
    let (private, public) = (
        d.path(&format!("{alg}.jwk")),
        d.path(&format!("{alg}.jwks")),
    );
    stdout(&run(&[
        "jwks",
        "generate",
        "--alg",
        alg,
        "--kid",
        "k1",
        "--private",
        &private,
        "--public",
        &public,
    ]));
    (private, public)
}

#[test]
fn jwt_mint_and_verify() {
    let d = Dir::new("jwt");
    for alg in ["RS256", "ES256", "ES384", "EdDSA", "HS256", "PS256"] {
        let (private, public) = generate(&d, alg);
        let token = stdout(&run(&[
            "jwt",
            "mint",
            "--key",
            &private,
            "--sub",
            "alice",
            "--iss",
            "https://issuer.test",
            "--aud",
            "api",
            "--ttl",
            "1h",
            "--now",
            NOW,
        ]));
        let claims = json(&run(&[
            "jwt",
            "verify",
            "--jwks",
            &public,
            "--iss",
            "https://issuer.test",
            "--aud",
            "api",
            "--algs",
            alg,
            "--now",
            NOW,
            &token,
        ]));
        assert_eq!(claims["sub"], "alice", "{alg}");
        assert_eq!(
            refused(&run(&[
                "jwt", "verify", "--jwks", &public, "--aud", "other", "--now", NOW, &token
            ])),
            "invalid_audience"
        );
        let expired_at = (NOW.parse::<u64>().unwrap() + 3600 + 61).to_string();
        assert_eq!(
            refused(&run(&[
                "jwt",
                "verify",
                "--jwks",
                &public,
                "--now",
                &expired_at,
                &token
            ])),
            "expired_token"
        );
        let (head, sig) = token.rsplit_once('.').unwrap();
        let flipped = format!(
            "{head}.{}{}",
            if sig.starts_with('A') { "B" } else { "A" },
            &sig[1..]
        );
        let code = refused(&run(&[
            "jwt", "verify", "--jwks", &public, "--now", NOW, &flipped,
        ]));
        assert!(
            code == "invalid_signature" || code == "malformed_token",
            "{alg}: {code}"
        );
        if alg != "HS256" {
            assert_eq!(
                refused(&run(&[
                    "jwt", "verify", "--jwks", &public, "--algs", "HS256", "--now", NOW, &token
                ])),
                "unsupported_algorithm"
            );
        }
    }
}

#[test]
fn jwt_verify_reads_a_secret_file_and_stdin() {
    let d = Dir::new("pem");
    let secret_file = d.path("secret");
    std::fs::write(&secret_file, [42u8; 32]).unwrap();
    let key = d.path("hs.jwk");
    std::fs::write(&key, serde_json::json!({"kty":"oct","alg":"HS256","k":<base64ct::Base64UrlUnpadded as base64ct::Encoding>::encode_string(&[42u8; 32])}).to_string()).unwrap();
    let token = stdout(&run(&[
        "jwt", "mint", "--key", &key, "--sub", "svc", "--now", NOW,
    ]));
    assert_eq!(
        json(&run(&[
            "jwt",
            "verify",
            "--secret-file",
            &secret_file,
            "--now",
            NOW,
            &token
        ]))["sub"],
        "svc"
    );
    let mut child = Command::new(BIN)
        .args([
            "jwt",
            "verify",
            "--secret-file",
            &secret_file,
            "--now",
            NOW,
            "-",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), token.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(json(&out)["sub"], "svc");
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        vec![],
        vec!["nope"],
        vec!["jwt", "verify", "token-without-key-source"],
        vec!["jwt", "verify", "--jwks", "a", "--pem", "b", "t"],
        vec![
            "keys", "create", "--type", "xx", "--env", "live", "--name", "n", "--store", "s",
        ],
        vec!["keys", "list", "--bogus", "1"],
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn webhook_sign_and_verify() {
    let d = Dir::new("webhook");
    let (secret, body) = (d.path("secret"), d.path("body"));
    std::fs::write(&secret, "whsec_demo\n").unwrap();
    std::fs::write(&body, br#"{"event":"dataset.updated"}"#).unwrap();
    let sig = stdout(&run(&["webhook", "sign", "--secret-file", &secret, &body]));
    assert!(sig.starts_with("sha256=") && sig.len() == 7 + 64);
    assert_eq!(
        json(&run(&[
            "webhook",
            "verify",
            "--secret-file",
            &secret,
            "--signature",
            &sig,
            &body
        ]))["valid"],
        true
    );
    std::fs::write(&body, br#"{"event":"dataset.deleted"}"#).unwrap();
    assert_eq!(
        refused(&run(&[
            "webhook",
            "verify",
            "--secret-file",
            &secret,
            "--signature",
            &sig,
            &body
        ])),
        "invalid_webhook_signature"
    );
    let ts_sig = stdout(&run(&[
        "webhook",
        "sign",
        "--secret-file",
        &secret,
        "--timestamp",
        NOW,
        &body,
    ]));
    assert_eq!(
        json(&run(&[
            "webhook",
            "verify",
            "--secret-file",
            &secret,
            "--signature",
            &ts_sig,
            "--timestamp",
            NOW,
            "--now",
            NOW,
            &body
        ]))["valid"],
        true
    );
    let late = (NOW.parse::<u64>().unwrap() + 301).to_string();
    assert_eq!(
        refused(&run(&[
            "webhook",
            "verify",
            "--secret-file",
            &secret,
            "--signature",
            &ts_sig,
            "--timestamp",
            NOW,
            "--now",
            &late,
            &body
        ])),
        "webhook_timestamp_out_of_tolerance"
    );
}

/// `gateway check` validates offline, naming the JSON path of a problem; `decide` answers as
/// the edges would (exit 0 forwarded, 1 answered), keeps rate-limit buckets in `--state`, and
/// refuses usage errors with exit 2.
#[test]
fn gateway_check_and_decide() {
    let dir = Dir::new("decide");
    let key = "sk_live_lp30IhnkLkWYLLDKAEgoyleJO8SlBb1F1FtUWe";
    let hash = format!("sha256:{}", hex::encode(sha2_digest(key)));
    let config = serde_json::json!({
        "api_keys": {"store": {"inline": {"version": 1, "keys": [{
            "id": "key_a", "name": "a", "type": "sk", "env": "live", "display_prefix": "sk_live_lp30",
            "hash": hash, "created_at": 1735689600, "rate_limit": "1/hour"}]}}},
        "errors": {"rate_limited": {"code": "RATE_LIMITED", "message": "Retry after {retry_after} seconds"}}
    });
    let file = dir.path("gateway.json");
    std::fs::write(&file, config.to_string()).unwrap();
    let ok = run(&["gateway", "check", &file]);
    assert_eq!(ok.status.code(), Some(0));
    assert_eq!(json(&ok)["valid"], Value::Bool(true));
    let bad = dir.path("bad.json");
    std::fs::write(&bad, r#"{"api_keys": {"store": {"inline": {"version": 1, "keys": []}}}, "cache": {"max_entries": "lots"}}"#).unwrap();
    let out = run(&["gateway", "check", &bad]);
    assert_eq!(refused(&out), "invalid_config");
    assert!(json(&out)["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("cache.max_entries: expected usize"));
    let state = dir.path("buckets.json");
    let header = format!("Authorization: Bearer {key}");
    let decide = || {
        run(&[
            "decide", "--config", &file, "--path", "/v1/x", "-H", &header, "--state", &state,
            "--now", NOW,
        ])
    };
    let first = decide();
    assert_eq!(first.status.code(), Some(0));
    let d = json(&first);
    assert_eq!(d["action"], "forward");
    assert!(d["upstream_set"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h[0] == "x-auth-key-id" && h[1] == "key_a"));
    let second = decide();
    assert_eq!(
        second.status.code(),
        Some(1),
        "the bucket persisted in --state"
    );
    let d = json(&second);
    assert_eq!(
        (d["action"].as_str(), d["status"].as_u64()),
        (Some("respond"), Some(429))
    );
    assert_eq!(d["report"]["code"], "rate_limited");
    assert_eq!(
        d["body"],
        r#"{"error":{"code":"RATE_LIMITED","message":"Retry after 3600 seconds"}}"#
    );
    assert_eq!(
        run(&["decide", "--config", &file, "-H", "no-colon"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(run(&["decide", "--path", "/"]).status.code(), Some(2));
}

fn sha2_digest(s: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(s.as_bytes()).into()
}

/// `keys import` keeps a platform's existing keys (plaintext or hash only); the edge then
/// accepts them by hash where the configuration says the prefix has imported keys.
#[test]
fn imported_keys_keep_working() {
    let dir = Dir::new("import");
    let store = dir.path("keys.json");
    let keys = dir.path("existing.txt");
    std::fs::write(&keys, "# DataPulse keys\ndp_live_8f3k29dQz81mLk0aP2\n").unwrap();
    let hashes = dir.path("hashes.txt");
    std::fs::write(
        &hashes,
        format!(
            "sha256:{}\n",
            hex::encode(sha2_digest("olytix-core_key_abc123xyz789"))
        ),
    )
    .unwrap();
    let out = run(&[
        "keys",
        "import",
        "--type",
        "sk",
        "--env",
        "live",
        "--prefix",
        "dp_live_",
        "--name",
        "datapulse",
        "--keys",
        &keys,
        "--store",
        &store,
        "--now",
        NOW,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json(&out)["imported"][0]["display_prefix"], "dp_live_8f3k");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("Qz81mLk0aP2"),
        "the key is never echoed"
    );
    let out = run(&[
        "keys",
        "import",
        "--type",
        "sk",
        "--env",
        "live",
        "--prefix",
        "olytix-core_key_",
        "--name",
        "olytix",
        "--hashes",
        &hashes,
        "--store",
        &store,
        "--now",
        NOW,
    ]);
    assert_eq!(out.status.code(), Some(0));
    let again = run(&[
        "keys", "import", "--type", "sk", "--env", "live", "--prefix", "dp_live_", "--name", "x",
        "--keys", &keys, "--store", &store, "--now", NOW,
    ]);
    assert_eq!(refused(&again), "invalid_config");
    assert!(json(&again)["error"]["message"]
        .as_str()
        .unwrap()
        .contains("line 2"));
    // Regression: a key shorter than the edge's imported bounds was imported, then refused at
    // the edge by its shape. Now the import refuses it, with the gateway's bounds as flags.
    let short = dir.path("short.txt");
    std::fs::write(&short, "dp_live_short1\n").unwrap();
    let import_short = |extra: &[&str]| {
        let mut args = vec![
            "keys", "import", "--type", "sk", "--env", "live", "--prefix", "dp_live_", "--name",
            "short", "--keys", &short, "--store", &store, "--now", NOW,
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    assert_eq!(
        refused(&import_short(&[])),
        "invalid_config",
        "under the default 8"
    );
    assert_eq!(import_short(&["--min-length", "6"]).status.code(), Some(0));
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(&store).unwrap()).unwrap();
    let config = serde_json::json!({
        "api_keys": {"store": {"inline": stored}, "prefixes": [
            {"prefix": "dp_live_", "type": "sk", "env": "live", "imported": {"min_length": 8}},
            {"prefix": "olytix-core_key_", "type": "sk", "env": "live", "imported": {"min_length": 8}}]},
        "sources": [{"type": "bearer"}, {"type": "query", "name": "api_key"}]
    });
    let file = dir.path("gateway.json");
    std::fs::write(&file, config.to_string()).unwrap();
    let ok = run(&[
        "decide",
        "--config",
        &file,
        "-H",
        "Authorization: Bearer dp_live_8f3k29dQz81mLk0aP2",
        "--now",
        NOW,
    ]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let ok = run(&[
        "decide",
        "--config",
        &file,
        "--path",
        "/v1/x?api_key=olytix-core_key_abc123xyz789",
        "--now",
        NOW,
    ]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let no = run(&[
        "decide",
        "--config",
        &file,
        "-H",
        "Authorization: Bearer dp_live_8f3k29dQz81mLk0aP3",
        "--now",
        NOW,
    ]);
    assert_eq!(json(&no)["report"]["code"], "invalid_api_key");
}

/// Regression: a reader that went away (`tokenwarden keys list | head -1`) made the CLI panic
/// on its next write. The command's work is done by then: it exits with its own code, quietly.
#[test]
fn a_closed_stdout_is_not_a_panic() {
    use std::process::{Command, Stdio};
    // A pipe whose reader has exited: every write to it fails with EPIPE.
    let mut reader = Command::new("true").stdin(Stdio::piped()).spawn().unwrap();
    let write_end = reader.stdin.take().unwrap();
    reader.wait().unwrap();
    let out = Command::new(BIN)
        .arg("help")
        .stdout(Stdio::from(write_end))
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0));
}
