//! `tokenwarden webhook sign|verify`: HMAC-SHA256 `sha256=<hex>` signatures over raw bodies.

use tokenwarden::webhook::{self, WebhookVerifier};

use crate::args::{Args, Usage};
use crate::{now, Outcome};

fn body(a: &Args) -> Result<Vec<u8>, Usage> {
    match a.one("body file (or - for stdin)")? {
        "-" => {
            let mut b = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut b)
                .map_err(|e| Usage(format!("stdin: {e}")))?;
            Ok(b)
        }
        f => std::fs::read(f).map_err(|e| Usage(format!("{f}: {e}"))),
    }
}

fn secret(a: &Args) -> Result<Vec<u8>, Usage> {
    let f = a.require("secret-file")?;
    let s = std::fs::read(f).map_err(|e| Usage(format!("{f}: {e}")))?;
    // A trailing newline from `echo secret > file` is not part of the secret.
    Ok(s.strip_suffix(b"\n").map(<[u8]>::to_vec).unwrap_or(s))
}

pub fn run(raw: &[String]) -> Result<Outcome, Usage> {
    let (cmd, rest) = raw
        .split_first()
        .ok_or_else(|| Usage("webhook: missing subcommand".into()))?;
    match cmd.as_str() {
        "sign" => {
            let a = Args::parse(rest, &["secret-file", "timestamp"])?;
            let (key, body) = (secret(&a)?, body(&a)?);
            let signed = match a.u64("timestamp")? {
                Some(ts) => webhook::sign_timestamped(&key, ts, &body),
                None => webhook::sign(&key, &body),
            };
            Ok(signed.map(Outcome::Text).unwrap_or_else(Outcome::Refused))
        }
        "verify" => {
            let a = Args::parse(
                rest,
                &["secret-file", "signature", "timestamp", "tolerance", "now"],
            )?;
            let (key, body) = (secret(&a)?, body(&a)?);
            let header = a.require("signature")?;
            let verifier = match WebhookVerifier::new(&[&key]) {
                Ok(v) => {
                    v.with_tolerance(a.u64("tolerance")?.unwrap_or(webhook::DEFAULT_TOLERANCE))
                }
                Err(e) => return Ok(Outcome::Refused(e)),
            };
            let result = match a.get("timestamp") {
                Some(ts) => verifier.verify_timestamped(
                    header,
                    ts,
                    &body,
                    a.u64("now")?.unwrap_or_else(now),
                ),
                None => verifier.verify(header, &body),
            };
            Ok(match result {
                Ok(()) => Outcome::Ok(serde_json::json!({ "valid": true })),
                Err(e) => Outcome::Refused(e),
            })
        }
        other => Err(Usage(format!("webhook: unknown subcommand {other}"))),
    }
}
