//! `tokenwarden jwt verify|mint` and `tokenwarden jwks generate`.

use std::io::Read;

use serde_json::{Map, Value};
use tokenwarden::sign::SigningKey;
use tokenwarden::{Algorithm, Jwk, JwkSet, Validation, Verifier};

use crate::args::{duration, Args, Usage};
use crate::{now, read_file, Outcome};

/// `jwt verify (--jwks F | --pem F | --secret-file F) [...] (TOKEN | -)`
pub fn verify(raw: &[String]) -> Result<Outcome, Usage> {
    let a = Args::parse(
        raw,
        &[
            "jwks",
            "pem",
            "secret-file",
            "iss",
            "aud",
            "algs",
            "leeway",
            "now",
            "require",
            "typ",
            "max-lifetime",
        ],
    )?;
    let token = match a.one("token (or - for stdin)")? {
        "-" => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| Usage(format!("reading stdin: {e}")))?;
            s.trim().to_owned()
        }
        t => t.to_owned(),
    };
    let mut algorithms = Vec::new();
    for name in a.list("algs") {
        algorithms.push(
            Algorithm::from_name(&name).map_err(|_| Usage(format!("unknown algorithm {name}")))?,
        );
    }
    let required = a.list("require");
    let validation = Validation {
        algorithms,
        issuers: a.list("iss"),
        audiences: a.list("aud"),
        leeway: a.u64("leeway")?.unwrap_or(60),
        typ: a.get("typ").map(str::to_owned),
        max_lifetime: a.get("max-lifetime").map(duration).transpose()?,
        required_claims: required.into_iter().filter(|c| c != "exp").collect(),
        ..Validation::default()
    };
    let keys = match (a.get("jwks"), a.get("pem"), a.get("secret-file")) {
        (Some(f), None, None) => JwkSet::from_json(&read_file(f)?),
        (None, Some(f), None) => {
            Jwk::from_pem(&read_file(f)?).and_then(|k| JwkSet::from_keys(vec![k]))
        }
        (None, None, Some(f)) => {
            let secret = std::fs::read(f).map_err(|e| Usage(format!("{f}: {e}")))?;
            Jwk::from_secret(&secret, None).and_then(|k| JwkSet::from_keys(vec![k]))
        }
        _ => {
            return Err(Usage(
                "give exactly one of --jwks, --pem, --secret-file".into(),
            ))
        }
    };
    let now = a.u64("now")?.unwrap_or_else(now);
    let result = keys.and_then(|k| Verifier::new(k, validation).verify(&token, now));
    Ok(match result {
        Ok(v) => Outcome::Ok(Value::Object(v.claims().clone())),
        Err(e) => Outcome::Refused(e),
    })
}

/// `jwt mint --key private.jwk [--sub S] [--iss I] [--aud A] [--ttl 1h] [--scope "a b"]
/// [--claims JSON] [--typ T] [--now UNIX]`
pub fn mint(raw: &[String]) -> Result<Outcome, Usage> {
    let a = Args::parse(
        raw,
        &[
            "key", "sub", "iss", "aud", "ttl", "scope", "claims", "typ", "now", "jti",
        ],
    )?;
    let key_json: Value = serde_json::from_str(&read_file(a.require("key")?)?)
        .map_err(|_| Usage("--key must be a JSON file with a private JWK".into()))?;
    let key = match SigningKey::from_jwk(&key_json) {
        Ok(k) => k,
        Err(e) => return Ok(Outcome::Refused(e)),
    };
    let now = a.u64("now")?.unwrap_or_else(now);
    let ttl = duration(a.get("ttl").unwrap_or("1h"))?;
    let mut claims: Map<String, Value> = match a.get("claims") {
        Some(c) => match serde_json::from_str(c) {
            Ok(Value::Object(m)) => m,
            _ => return Err(Usage("--claims must be a JSON object".into())),
        },
        None => Map::new(),
    };
    claims.insert("iat".into(), now.into());
    claims.insert("exp".into(), now.saturating_add(ttl).into());
    for (flag, claim) in [
        ("sub", "sub"),
        ("iss", "iss"),
        ("aud", "aud"),
        ("scope", "scope"),
        ("jti", "jti"),
    ] {
        if let Some(v) = a.get(flag) {
            claims.insert(claim.into(), v.into());
        }
    }
    Ok(
        match key.mint(&claims, Some(a.get("typ").unwrap_or("JWT")), &Map::new()) {
            Ok(t) => Outcome::Text(t),
            Err(e) => Outcome::Refused(e),
        },
    )
}

/// `jwks generate --alg RS256|ES256|ES384|EdDSA|HS256 [--kid K] --private F [--public F]`
pub fn generate(raw: &[String]) -> Result<Outcome, Usage> {
    let a = Args::parse(raw, &["alg", "kid", "private", "public"])?;
    let alg = Algorithm::from_name(a.require("alg")?).map_err(|_| Usage("unknown --alg".into()))?;
    let kid = a.get("kid").map(str::to_owned);
    let key = match SigningKey::generate(alg, kid) {
        Ok(k) => k,
        Err(e) => return Ok(Outcome::Refused(e)),
    };
    let kid = key.kid().map(str::to_owned).unwrap_or_else(|| {
        key.verifying_jwk()
            .map(|j| j.key().thumbprint())
            .unwrap_or_default()
    });
    let key = SigningKey::from_jwk(&with_kid(key.private_jwk(), &kid))
        .map_err(|e| Usage(e.to_string()))?;
    let private_path = a.require("private")?;
    write_secret(
        private_path,
        &(serde_json::to_string_pretty(&key.private_jwk()).unwrap_or_default() + "\n"),
    )?;
    let public = serde_json::json!({ "keys": [key.public_jwk()] });
    if let Some(p) = a.get("public") {
        // For HMAC the "public" set is the shared secret itself: keep it owner-only too.
        write_secret(
            p,
            &(serde_json::to_string_pretty(&public).unwrap_or_default() + "\n"),
        )?;
    }
    let mut note = Map::new();
    note.insert("kid".into(), kid.into());
    note.insert("alg".into(), alg.name().into());
    note.insert("private".into(), private_path.into());
    if let Some(p) = a.get("public") {
        note.insert("public".into(), p.into());
    }
    Ok(Outcome::Ok(Value::Object(note)))
}

fn with_kid(mut jwk: Value, kid: &str) -> Value {
    if let Some(m) = jwk.as_object_mut() {
        m.insert("kid".into(), kid.into());
    }
    jwk
}

/// Writes a file readable only by its owner.
pub fn write_secret(path: &str, content: &str) -> Result<(), Usage> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| Usage(format!("{path}: {e}")))?;
    f.write_all(content.as_bytes())
        .map_err(|e| Usage(format!("{path}: {e}")))
}
