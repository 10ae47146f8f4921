//! `tokenwarden gateway check FILE` and `tokenwarden decide …`: the edge decision without a
//! proxy. `decide` is a third host of the core's gateway beside the Envoy filter and the Worker:
//! it fetches the remote sources the schedule says are due (by their `url`, as the Worker does),
//! makes the call a decision asks for (introspection, a key lookup), and prints the decision as
//! the Worker reads it. Rate-limit buckets can persist between runs (`--state FILE`). Each run
//! starts with empty caches: every API key of a lookup store is asked of the key service.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use serde_json::{json, Value};
use tokenwarden::gateway::{Decision, Gateway, Host, RateStore, Request, Validators};
use tokenwarden::ratelimit::GcraState;

use crate::args::Usage;
use crate::{now, Outcome};

/// Rounds of fetches before deciding (a discovery document, then the JWKS it names).
const FETCH_ROUNDS: usize = 4;

fn load(path: &str) -> Result<Result<Gateway, tokenwarden::AuthError>, Usage> {
    let text = std::fs::read_to_string(path).map_err(|e| Usage(format!("{path}: {e}")))?;
    Ok(Gateway::from_json(&text))
}

/// `gateway check FILE`: validates a configuration offline; a problem is refused with its JSON
/// path (exit 1).
pub fn check(argv: &[String]) -> Result<Outcome, Usage> {
    let [path] = argv else {
        return Err(Usage("expected exactly one configuration file".into()));
    };
    let gw = match load(path)? {
        Ok(gw) => gw,
        Err(e) => return Ok(Outcome::Refused(e)),
    };
    let fetches: Vec<Value> = gw
        .fetches()
        .iter()
        .map(
            |f| json!({"id": f.id.to_string(), "cluster": f.cluster, "path": f.path, "url": f.url}),
        )
        .collect();
    Ok(Outcome::Ok(json!({
        "valid": true,
        "remote_sources": fetches,
        "envoy_limitations": gw.limitations(Host::Envoy),
        "url_host_limitations": gw.limitations(Host::Fetch),
    })))
}

/// The options of `decide`; `-H` may repeat.
struct DecideArgs {
    config: String,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    ip: Option<IpAddr>,
    now: Option<u64>,
    state: Option<String>,
    offline: bool,
}

fn parse(argv: &[String]) -> Result<DecideArgs, Usage> {
    let mut out = DecideArgs {
        config: String::new(),
        method: "GET".into(),
        path: "/".into(),
        headers: Vec::new(),
        ip: None,
        now: None,
        state: None,
        offline: false,
    };
    let mut it = argv.iter();
    while let Some(arg) = it.next() {
        if arg == "--offline" {
            out.offline = true;
            continue;
        }
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| Usage(format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--config" => out.config = value()?,
            "--method" => out.method = value()?,
            "--path" => out.path = value()?,
            "-H" | "--header" => {
                let h = value()?;
                let (name, v) = h.split_once(':').ok_or_else(|| {
                    Usage(format!(
                        "header {name:?} is not 'Name: value'",
                        name = h.split(':').next().unwrap_or("")
                    ))
                })?;
                out.headers
                    .push((name.trim().to_ascii_lowercase(), v.trim_start().to_owned()));
            }
            "--ip" => {
                out.ip = Some(
                    value()?
                        .parse()
                        .map_err(|_| Usage("--ip must be an IP address".into()))?,
                )
            }
            "--now" => {
                out.now = Some(
                    value()?
                        .parse()
                        .map_err(|_| Usage("--now must be unix seconds".into()))?,
                )
            }
            "--state" => out.state = Some(value()?),
            other => return Err(Usage(format!("unknown option {other}"))),
        }
    }
    if out.config.is_empty() {
        return Err(Usage("--config is required".into()));
    }
    Ok(out)
}

/// Rate-limit buckets kept in a JSON file between runs: `{key: [state hex, version]}`.
#[derive(Default)]
struct FileRateStore {
    buckets: HashMap<String, (String, u32)>,
}

impl FileRateStore {
    fn read(path: Option<&str>) -> Result<FileRateStore, Usage> {
        let Some(path) = path else {
            return Ok(FileRateStore::default());
        };
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text)
                .map(|buckets| FileRateStore { buckets })
                .map_err(|_| Usage(format!("{path}: not a rate-limit state file"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(FileRateStore::default()),
            Err(e) => Err(Usage(format!("{path}: {e}"))),
        }
    }

    fn write(&self, path: Option<&str>) -> Result<(), Usage> {
        let Some(path) = path else { return Ok(()) };
        let text = serde_json::to_string(&self.buckets).unwrap_or_default();
        std::fs::write(path, text).map_err(|e| Usage(format!("{path}: {e}")))
    }
}

impl RateStore for FileRateStore {
    fn load(&mut self, key: &str) -> (Option<GcraState>, u32) {
        match self.buckets.get(key) {
            Some((hex, version)) => {
                let state = base16ct::lower::decode_vec(hex)
                    .ok()
                    .and_then(|b| GcraState::from_bytes(&b));
                (state, *version)
            }
            None => (None, 0),
        }
    }

    fn store(&mut self, key: &str, state: GcraState, version: u32) -> bool {
        if self.load(key).1 != version {
            return false;
        }
        let hex = base16ct::lower::encode_string(&state.to_bytes());
        self.buckets
            .insert(key.to_owned(), (hex, version.wrapping_add(1)));
        true
    }
}

fn agent(timeout_ms: u64) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_millis(timeout_ms)))
        .http_status_as_error(false)
        .build()
        .into()
}

/// A call's status, validators and body; status 0 when there was no answer.
/// At most `limit` bytes of the body are read: a longer document arrives cut at `limit`, which
/// the core refuses when it is over the fetch's `max_bytes`.
fn answer(
    result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    limit: u64,
) -> (u16, Validators, Vec<u8>) {
    use std::io::Read;
    match result {
        Ok(mut res) => {
            let status = res.status().as_u16();
            let header = |name| res.headers().get(name).and_then(|v| v.to_str().ok());
            let validators = Validators::new(header("etag"), header("last-modified"));
            let mut body = Vec::new();
            let read = res
                .body_mut()
                .with_config()
                .limit(u64::MAX)
                .reader()
                .take(limit)
                .read_to_end(&mut body);
            match read {
                Ok(_) => (status, validators, body),
                Err(_) => (0, Validators::default(), Vec::new()),
            }
        }
        Err(_) => (0, Validators::default(), Vec::new()),
    }
}

/// `decide`: one request through the gateway, printed as the decision JSON the Worker reads.
/// Exit 0 when forwarded, 1 when answered by the gateway.
pub fn decide(argv: &[String]) -> Result<Outcome, Usage> {
    let a = parse(argv)?;
    let mut gw = match load(&a.config)? {
        Ok(gw) => gw,
        Err(e) => return Ok(Outcome::Refused(e)),
    };
    let now_ms = a.now.unwrap_or_else(now).saturating_mul(1000);
    if !a.offline {
        for _ in 0..FETCH_ROUNDS {
            let due = gw.due_fetches(now_ms);
            if due.is_empty() {
                break;
            }
            for f in due {
                let url = f.url.clone().unwrap_or_default();
                let mut req = agent(f.timeout_ms).get(&url);
                for (name, value) in &f.headers {
                    req = req.header(name, value);
                }
                let (status, validators, body) = answer(req.call(), f.max_bytes.saturating_add(1));
                let id = f.id.to_string();
                if let Some(line) = gw.fetched(&id, status, &validators, &body, now_ms) {
                    eprintln!("tokenwarden: {line}");
                }
            }
        }
    }
    let headers: Vec<(&str, &str)> = a
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let request = Request {
        method: &a.method,
        path: &a.path,
        headers: &headers,
        peer: a.ip,
        now_ms,
        sample: 0,
    };
    let mut rates = FileRateStore::read(a.state.as_deref())?;
    let mut decision = gw.decide(&request, &mut rates);
    if let Decision::Call(call) = &decision {
        let (status, body) = match (&call.url, a.offline) {
            (Some(url), false) => {
                let agent = agent(call.timeout_ms);
                let result = match &call.body {
                    Some(body) => {
                        let mut req = agent.post(url);
                        for (name, value) in &call.headers {
                            req = req.header(name, value);
                        }
                        req.send(body.as_str())
                    }
                    None => {
                        let mut req = agent.get(url);
                        for (name, value) in &call.headers {
                            req = req.header(name, value);
                        }
                        req.call()
                    }
                };
                let (status, _, body) = answer(result, call.max_bytes.saturating_add(1));
                (status, body)
            }
            _ => (0, Vec::new()),
        };
        decision = gw.on_call(&request, status, &body, &mut rates);
    }
    rates.write(a.state.as_deref())?;
    let code = if decision.is_forward() { 0 } else { 1 };
    Ok(Outcome::Exit(
        serde_json::to_value(&decision).unwrap_or(Value::Null),
        code,
    ))
}
