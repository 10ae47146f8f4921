//! A deliberately small argument parser: `--flag value`, `--flag=value`, positionals, and a
//! usage error (exit 2) for anything unexpected.

use std::collections::HashMap;

/// Parsed arguments of one subcommand.
pub struct Args {
    flags: HashMap<String, String>,
    pub positional: Vec<String>,
}

/// A usage error: printed to stderr, exit code 2.
pub struct Usage(pub String);

impl Args {
    /// Parses `raw` accepting only `allowed` flags (each takes one value).
    pub fn parse(raw: &[String], allowed: &[&str]) -> Result<Args, Usage> {
        let mut flags = HashMap::new();
        let mut positional = Vec::new();
        let mut it = raw.iter();
        while let Some(arg) = it.next() {
            if let Some(flag) = arg.strip_prefix("--") {
                let (name, value) = match flag.split_once('=') {
                    Some((n, v)) => (n.to_owned(), v.to_owned()),
                    None => {
                        let v = it
                            .next()
                            .ok_or_else(|| Usage(format!("--{flag} needs a value")))?;
                        (flag.to_owned(), v.clone())
                    }
                };
                if !allowed.contains(&name.as_str()) {
                    return Err(Usage(format!("unknown option --{name}")));
                }
                if flags.insert(name.clone(), value).is_some() {
                    return Err(Usage(format!("--{name} given twice")));
                }
            } else {
                positional.push(arg.clone());
            }
        }
        Ok(Args { flags, positional })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.flags.get(name).map(String::as_str)
    }

    pub fn require(&self, name: &str) -> Result<&str, Usage> {
        self.get(name)
            .ok_or_else(|| Usage(format!("--{name} is required")))
    }

    /// A comma-separated list (empty when absent).
    pub fn list(&self, name: &str) -> Vec<String> {
        self.get(name)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn u64(&self, name: &str) -> Result<Option<u64>, Usage> {
        self.get(name)
            .map(|v| {
                v.parse()
                    .map_err(|_| Usage(format!("--{name} must be a non-negative integer")))
            })
            .transpose()
    }

    /// Exactly one positional argument.
    pub fn one(&self, what: &str) -> Result<&str, Usage> {
        match self.positional.as_slice() {
            [one] => Ok(one),
            _ => Err(Usage(format!("expected exactly one {what}"))),
        }
    }
}

/// Parses durations like `90d`, `24h`, `15m`, `30s` or plain seconds.
pub fn duration(v: &str) -> Result<u64, Usage> {
    let bad = || {
        Usage(format!(
            "invalid duration {v:?} (use e.g. 90d, 24h, 15m, 30s)"
        ))
    };
    let (num, mult) = match v.char_indices().last() {
        Some((i, 'd')) => (&v[..i], 86_400),
        Some((i, 'h')) => (&v[..i], 3_600),
        Some((i, 'm')) => (&v[..i], 60),
        Some((i, 's')) => (&v[..i], 1),
        _ => (v, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(bad)
}
