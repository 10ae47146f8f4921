//! `tokenwarden`: API keys, JWTs, JWKS and webhook signatures from the command line.
//!
//! Exit codes: 0 accepted/done, 1 refused (a JSON error with a stable code on stdout),
//! 2 usage error (message on stderr).

mod args;
mod gateway;
mod jwt;
mod keys;
mod webhook;

use serde_json::Value;
use tokenwarden::AuthError;

use args::Usage;

/// What a command produced.
pub enum Outcome {
    /// Success with a JSON document.
    Ok(Value),
    /// Success with plain text (a token, a key).
    Text(String),
    /// A refusal with its stable code.
    Refused(AuthError),
    /// A JSON document and the exit code it means (`decide`: 0 forwarded, 1 answered).
    Exit(Value, i32),
}

const USAGE: &str = "usage:
  tokenwarden keys create --type sk|pk|rk --env live|test --name NAME [--permissions a,b] [--denied c,d]
                          [--datasets x,y] [--rate-limit 1000/hour] [--expires 90d]
                          [--allowed-ips CIDR,...] [--roles r,s] [--attributes org=acme,...]
                          [--prefix PREFIX] --store keys.json
  tokenwarden keys import --type sk|pk|rk --env live|test --name NAME [--prefix PREFIX]
                          (--keys FILE | --hashes FILE) [--min-length 8] [--max-length 128]
                          [--permissions a,b] ... --store keys.json
  tokenwarden keys list --store keys.json
  tokenwarden keys revoke ID --store keys.json
  tokenwarden keys rotate ID [--overlap 24h] --store keys.json
  tokenwarden keys check KEY [--env live|test] [--ip ADDR] [--now UNIX] --store keys.json
  tokenwarden jwt verify (--jwks F | --pem F | --secret-file F) [--iss I,...] [--aud A,...]
                          [--algs RS256,ES256] [--leeway 60] [--now UNIX] [--require exp,sub]
                          [--typ at+jwt] [--max-lifetime 1h] (TOKEN | -)
  tokenwarden jwt mint --key private.jwk [--sub S] [--iss I] [--aud A] [--scope \"a b\"]
                          [--ttl 1h] [--claims JSON] [--typ T] [--now UNIX]
  tokenwarden jwks generate --alg RS256|PS256|ES256|ES384|ES512|EdDSA|HS256 [--kid K]
                          --private FILE [--public FILE]
  tokenwarden gateway check GATEWAY_JSON
  tokenwarden decide --config GATEWAY_JSON [--method GET] [--path /v1/...] [-H 'Name: value']...
                          [--ip ADDR] [--now UNIX] [--state BUCKETS_JSON] [--offline]
  tokenwarden webhook sign --secret-file F [--timestamp UNIX] (BODY_FILE | -)
  tokenwarden webhook verify --secret-file F --signature 'sha256=...' [--timestamp UNIX]
                          [--tolerance 300] [--now UNIX] (BODY_FILE | -)";

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match argv
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["jwt", "verify", ..] => jwt::verify(&argv[2..]),
        ["jwt", "mint", ..] => jwt::mint(&argv[2..]),
        ["jwks", "generate", ..] => jwt::generate(&argv[2..]),
        ["keys", ..] => keys::run(&argv[1..]),
        ["gateway", "check", ..] => gateway::check(&argv[2..]),
        ["decide", ..] => gateway::decide(&argv[1..]),
        ["webhook", ..] => webhook::run(&argv[1..]),
        ["help" | "--help" | "-h"] => {
            emit(USAGE);
            return;
        }
        _ => Err(Usage("unknown command".into())),
    };
    std::process::exit(match outcome {
        Ok(Outcome::Ok(v)) => {
            emit(&serde_json::to_string_pretty(&v).unwrap_or_default());
            0
        }
        Ok(Outcome::Text(t)) => {
            emit(&t);
            0
        }
        Ok(Outcome::Exit(v, code)) => {
            emit(&serde_json::to_string_pretty(&v).unwrap_or_default());
            code
        }
        Ok(Outcome::Refused(e)) => {
            emit(&e.body(tokenwarden::ErrorStyle::Simple));
            1
        }
        Err(Usage(msg)) => {
            eprintln!("tokenwarden: {msg}\n\n{USAGE}");
            2
        }
    });
}

/// Writes the result to stdout. A reader that went away (`| head`) is not an error of the
/// command, whose work is done: the exit code still says how it went.
fn emit(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

/// The current time; the only clock read in tokenwarden lives in its hosts.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Reads a whole text file, or stdin for `-`.
pub fn read_file(path: &str) -> Result<String, Usage> {
    if path == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| Usage(format!("stdin: {e}")))?;
        return Ok(s);
    }
    std::fs::read_to_string(path).map_err(|e| Usage(format!("{path}: {e}")))
}
