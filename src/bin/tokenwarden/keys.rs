//! `tokenwarden keys create|list|revoke|rotate|check`: a JSON key store holding only hashes.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use tokenwarden::apikey::{
    CheckContext, Environment, ImportedFormat, ImportedKey, KeyPrefix, KeyRecord, KeyStore,
    KeyType, NewKey,
};

use crate::args::{duration, Args, Usage};
use crate::jwt::write_secret;
use crate::{now, Outcome};

fn load(path: &str) -> Result<Result<KeyStore, tokenwarden::AuthError>, Usage> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(KeyStore::from_json(&text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Ok(KeyStore::new())),
        Err(e) => Err(Usage(format!("{path}: {e}"))),
    }
}

/// The store holds hashes, not secrets, but its records still describe access: owner-only.
fn save(path: &str, store: &KeyStore) -> Result<Option<tokenwarden::AuthError>, Usage> {
    match store.to_json() {
        Ok(json) => write_secret(path, &(json + "\n")).map(|()| None),
        Err(e) => Ok(Some(e)),
    }
}

fn key_type(v: &str) -> Result<KeyType, Usage> {
    match v {
        "sk" => Ok(KeyType::Secret),
        "pk" => Ok(KeyType::Public),
        "rk" => Ok(KeyType::Restricted),
        _ => Err(Usage("--type must be sk, pk or rk".into())),
    }
}

fn environment(v: &str) -> Result<Environment, Usage> {
    match v {
        "live" => Ok(Environment::Live),
        "test" => Ok(Environment::Test),
        _ => Err(Usage("--env must be live or test".into())),
    }
}

/// A record as shown to an operator: everything but the hash.
fn public_view(r: &KeyRecord) -> Value {
    let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
    if let Some(m) = v.as_object_mut() {
        m.remove("hash");
    }
    v
}

macro_rules! store_or_refuse {
    ($e:expr) => {
        match $e {
            Ok(s) => s,
            Err(err) => return Ok(Outcome::Refused(err)),
        }
    };
}

pub fn run(raw: &[String]) -> Result<Outcome, Usage> {
    let (cmd, rest) = raw
        .split_first()
        .ok_or_else(|| Usage("keys: missing subcommand".into()))?;
    match cmd.as_str() {
        "create" => create(rest),
        "import" => import(rest),
        "list" => list(rest),
        "revoke" => revoke(rest),
        "rotate" => rotate(rest),
        "check" => check(rest),
        other => Err(Usage(format!("keys: unknown subcommand {other}"))),
    }
}

/// The options `create` and `import` share: where the store is, which prefix, and the record.
const SPEC_FLAGS: [&str; 14] = [
    "type",
    "env",
    "name",
    "permissions",
    "denied",
    "datasets",
    "rate-limit",
    "expires",
    "allowed-ips",
    "roles",
    "attributes",
    "prefix",
    "store",
    "now",
];

/// A new record's settings from the shared options, with its prefix and the time.
fn spec(a: &Args) -> Result<Result<(KeyPrefix, NewKey, u64), tokenwarden::AuthError>, Usage> {
    let (kt, env) = (
        key_type(a.require("type")?)?,
        environment(a.require("env")?)?,
    );
    let prefix = match a.get("prefix") {
        Some(p) => match KeyPrefix::new(p, kt, env) {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        },
        None => KeyPrefix::standard(kt, env),
    };
    let now = a.u64("now")?.unwrap_or_else(now);
    let expires_at = a
        .get("expires")
        .map(duration)
        .transpose()?
        .map(|d| now.saturating_add(d));
    let spec = NewKey {
        name: a.require("name")?.to_owned(),
        permissions: a.list("permissions"),
        denied: a.list("denied"),
        datasets: a.list("datasets"),
        expires_at,
        allowed_ips: a.list("allowed-ips"),
        rate_limit: a.get("rate-limit").map(str::to_owned),
        roles: a.list("roles"),
        attributes: attributes(&a.list("attributes"))?,
    };
    Ok(Ok((prefix, spec, now)))
}

/// `--attributes org=acme,project=web,project=app`: a name given twice holds both values.
fn attributes(entries: &[String]) -> Result<BTreeMap<String, Vec<String>>, Usage> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for entry in entries {
        let (name, value) = entry
            .split_once('=')
            .ok_or_else(|| Usage("--attributes entries are name=value".into()))?;
        map.entry(name.to_owned())
            .or_default()
            .push(value.to_owned());
    }
    Ok(map)
}

/// `keys import`: a platform's existing keys (one per line: the key, or with `--hashes` the
/// `sha256:<hex>` it kept) become records, so customers keep their keys. Every line is checked
/// before the store is written; a refused line names its number, never its content.
fn import(raw: &[String]) -> Result<Outcome, Usage> {
    let flags: Vec<&str> = SPEC_FLAGS
        .iter()
        .copied()
        .chain(["keys", "hashes", "min-length", "max-length"])
        .collect();
    let a = Args::parse(raw, &flags)?;
    let path = a.require("store")?;
    let (prefix, spec, now) = store_or_refuse!(spec(&a)?);
    // The gateway's `imported` bounds (same defaults): a key outside them is refused here.
    let length = |name: &str, default: usize| -> Result<usize, Usage> {
        Ok(a.u64(name)?
            .map_or(default, |n| usize::try_from(n).unwrap_or(usize::MAX)))
    };
    let format = ImportedFormat {
        min_len: length("min-length", 8)?,
        max_len: length("max-length", 128)?,
    };
    let prefix = store_or_refuse!(prefix.with_imported(format));
    let (file, hashes) = match (a.get("keys"), a.get("hashes")) {
        (Some(f), None) => (f, false),
        (None, Some(f)) => (f, true),
        _ => return Err(Usage("give one of --keys FILE or --hashes FILE".into())),
    };
    let text = std::fs::read_to_string(file).map_err(|e| Usage(format!("{file}: {e}")))?;
    let mut store = store_or_refuse!(load(path)?);
    let mut imported = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = if hashes {
            ImportedKey::Hash(line)
        } else {
            ImportedKey::Plaintext(line)
        };
        match store.import(&prefix, key, spec.clone(), now) {
            Ok(record) => imported.push(public_view(record)),
            Err(e) => {
                let message = format!("{file} line {}: {}", n + 1, e.message());
                return Ok(Outcome::Refused(tokenwarden::AuthError::with_message(
                    e.code(),
                    message,
                )));
            }
        }
    }
    if let Some(e) = save(path, &store)? {
        return Ok(Outcome::Refused(e));
    }
    Ok(Outcome::Ok(json!({ "imported": imported })))
}

fn create(raw: &[String]) -> Result<Outcome, Usage> {
    let a = Args::parse(raw, &SPEC_FLAGS)?;
    let path = a.require("store")?;
    let (prefix, spec, now) = store_or_refuse!(spec(&a)?);
    let mut store = store_or_refuse!(load(path)?);
    let created = store_or_refuse!(store.create(&prefix, spec, now));
    if let Some(e) = save(path, &store)? {
        return Ok(Outcome::Refused(e));
    }
    eprintln!("Store this key now: it is shown once and only its SHA-256 hash is kept in {path}.");
    Ok(Outcome::Ok(
        json!({ "key": created.secret, "record": public_view(&created.record) }),
    ))
}

fn list(raw: &[String]) -> Result<Outcome, Usage> {
    let a = Args::parse(raw, &["store"])?;
    let store = store_or_refuse!(load(a.require("store")?)?);
    Ok(Outcome::Ok(Value::Array(
        store.list().map(public_view).collect(),
    )))
}

fn revoke(raw: &[String]) -> Result<Outcome, Usage> {
    let a = Args::parse(raw, &["store", "now"])?;
    let path = a.require("store")?;
    let id = a.one("key id")?;
    let mut store = store_or_refuse!(load(path)?);
    let view = public_view(store_or_refuse!(
        store.revoke(id, a.u64("now")?.unwrap_or_else(now))
    ));
    if let Some(e) = save(path, &store)? {
        return Ok(Outcome::Refused(e));
    }
    Ok(Outcome::Ok(view))
}

fn rotate(raw: &[String]) -> Result<Outcome, Usage> {
    let a = Args::parse(raw, &["store", "now", "overlap"])?;
    let path = a.require("store")?;
    let id = a.one("key id")?;
    let overlap = duration(a.get("overlap").unwrap_or("24h"))?;
    let mut store = store_or_refuse!(load(path)?);
    let created = store_or_refuse!(store.rotate(id, a.u64("now")?.unwrap_or_else(now), overlap));
    let old = store.get(id).map(public_view).unwrap_or(Value::Null);
    if let Some(e) = save(path, &store)? {
        return Ok(Outcome::Refused(e));
    }
    eprintln!(
        "Store the new key now: it is shown once. The old key keeps working until its new expiry."
    );
    Ok(Outcome::Ok(
        json!({ "key": created.secret, "record": public_view(&created.record), "previous": old }),
    ))
}

fn check(raw: &[String]) -> Result<Outcome, Usage> {
    let a = Args::parse(raw, &["store", "now", "env", "ip"])?;
    let store = store_or_refuse!(load(a.require("store")?)?);
    let presented = a.one("API key")?;
    let envs = match a.get("env") {
        Some(e) => vec![environment(e)?],
        None => vec![Environment::Live, Environment::Test],
    };
    let client_ip = a
        .get("ip")
        .map(|ip| {
            ip.parse()
                .map_err(|_| Usage(format!("--ip {ip:?} is not an IP address")))
        })
        .transpose()?;
    let prefixes = store.prefixes();
    let ctx = CheckContext {
        now: a.u64("now")?.unwrap_or_else(now),
        client_ip,
        accepted_envs: &envs,
        prefixes: &prefixes,
    };
    Ok(match store.check(presented, &ctx) {
        Ok(r) => Outcome::Ok(json!({
            "accepted": true,
            "id": r.id,
            "name": r.name,
            "permissions": r.effective_permissions(),
            "datasets": r.datasets,
            "rate_limit": r.rate_limit,
        })),
        Err(e) => Outcome::Refused(e),
    })
}
