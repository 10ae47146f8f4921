//! Permissions, roles and route rules: one engine for JWT scopes and API-key permissions.
//!
//! # Permissions
//!
//! A permission is `action:resource`, the resource a dot-separated path of names
//! (`read:datasets.sales`, `execute:queries.readonly`). Names are ASCII letters, digits, `_`
//! and `-`. A grant covers a wanted permission when the actions match and:
//!
//! * the grant's resource is `*` (`read:*`), or the whole grant is `*` (everything);
//! * the grant names the same resource or a parent of it: `read:datasets` covers
//!   `read:datasets` and `read:datasets.sales.q1`;
//! * the grant ends in `.*`, which covers the children only: `read:datasets.*` covers
//!   `read:datasets.sales` but not `read:datasets` itself.
//!
//! The action may be `*` (`*:datasets.sales`). A permission without a colon (`read`, `write`,
//! `admin`: the plain scopes many platforms issue) means that action on everything, `read:*`.
//! Actions are independent: `manage:datasets` does not imply `read:datasets`.
//!
//! A *required* permission is covered only by a grant that covers all of it, so requiring
//! `read:datasets` (a parent) needs a grant on the whole `datasets` tree.
//!
//! # Deny
//!
//! A credential's deny list beats every allow: a deny entry refuses a request when it overlaps a
//! required permission, i.e. when some concrete permission falls under both. `delete:*` refuses
//! every rule that requires any `delete:` permission, and denying `read:datasets.secret` refuses
//! a rule requiring `read:datasets` (the whole tree is no longer granted) as well as one requiring
//! `read:datasets.secret`. A rule that requires nothing is not affected by deny entries.
//!
//! # Routes
//!
//! Rules are tried in order and the first whose method and path pattern match decides; see
//! [`RuleConfig`]. Paths are validated before matching because path confusion (dot segments,
//! encoded slashes, `;` parameters, control bytes) is a classic way around a proxy's rules.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::error::{AuthError, ErrorCode};

const MAX_NAME_LEN: usize = 64;
const MAX_PERMISSION_LEN: usize = 256;
const MAX_PATH_LEN: usize = 8192;
const MAX_METHOD_LEN: usize = 32;
/// Capture name to percent-decoded value.
pub type Captures = BTreeMap<String, String>;

/// The capture whose value a credential's dataset restriction applies to.
const DATASET_CAPTURE: &str = "dataset";

/// A parsed permission pattern; see the module documentation for the covering rules.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Permission {
    /// `None` is the `*` action.
    action: Option<String>,
    resource: Resource,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Resource {
    /// `*`: every resource.
    All,
    /// A resource and everything below it.
    Subtree(Vec<String>),
    /// Everything strictly below a resource (`name.*`).
    Below(Vec<String>),
}

impl Resource {
    fn path(&self) -> Option<&[String]> {
        match self {
            Resource::All => None,
            Resource::Subtree(p) | Resource::Below(p) => Some(p),
        }
    }
}

impl Permission {
    /// Whether holding `self` grants all of `wanted`.
    pub fn covers(&self, wanted: &Permission) -> bool {
        let action = match (&self.action, &wanted.action) {
            (None, _) => true,
            (Some(a), Some(b)) => a == b,
            (Some(_), None) => false,
        };
        action
            && match (&self.resource, &wanted.resource) {
                (Resource::All, _) => true,
                (_, Resource::All) => false,
                (Resource::Subtree(g), Resource::Subtree(w) | Resource::Below(w)) => {
                    w.starts_with(g)
                }
                (Resource::Below(g), Resource::Subtree(w)) => w.len() > g.len() && w.starts_with(g),
                (Resource::Below(g), Resource::Below(w)) => w.starts_with(g),
            }
    }

    /// Whether some concrete permission falls under both patterns (how deny entries apply).
    pub fn overlaps(&self, other: &Permission) -> bool {
        let action = match (&self.action, &other.action) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        action
            && match (self.resource.path(), other.resource.path()) {
                (Some(a), Some(b)) => a.starts_with(b) || b.starts_with(a),
                _ => true,
            }
    }

    /// Whether the action is exactly `action` (so `*` is not a `read` permission).
    pub fn has_action(&self, action: &str) -> bool {
        self.action.as_deref() == Some(action)
    }
}

impl FromStr for Permission {
    type Err = AuthError;

    fn from_str(s: &str) -> Result<Permission, AuthError> {
        parse_permission(s).map_err(invalid_config)
    }
}

impl fmt::Display for Permission {
    /// The canonical form: `read` is shown as `read:*`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let action = self.action.as_deref().unwrap_or("*");
        match &self.resource {
            Resource::All if self.action.is_none() => f.write_str("*"),
            Resource::All => write!(f, "{action}:*"),
            Resource::Subtree(p) => write!(f, "{action}:{}", p.join(".")),
            Resource::Below(p) => write!(f, "{action}:{}.*", p.join(".")),
        }
    }
}

fn parse_permission(s: &str) -> Result<Permission, &'static str> {
    if s.is_empty() {
        return Err("permission is empty");
    }
    if s.len() > MAX_PERMISSION_LEN {
        return Err("permission is too long");
    }
    if s == "*" {
        return Ok(Permission {
            action: None,
            resource: Resource::All,
        });
    }
    let (action, resource) = match s.split_once(':') {
        Some((action, resource)) => (action, Some(resource)),
        None => (s, None),
    };
    let action = match action {
        "*" => None,
        a if is_name(a) => Some(a.to_string()),
        _ => return Err("permission action must be * or a name of letters, digits, _ and -"),
    };
    let resource = match resource {
        None | Some("*") => Resource::All,
        Some(text) => {
            let (path, below) = match text.strip_suffix(".*") {
                Some(parent) => (parent, true),
                None => (text, false),
            };
            let segments: Vec<String> = path.split('.').map(str::to_string).collect();
            if !segments.iter().all(|s| is_name(s)) {
                return Err(
                    "permission resource must be dot-separated names, optionally ending in .*",
                );
            }
            if below {
                Resource::Below(segments)
            } else {
                Resource::Subtree(segments)
            }
        }
    };
    Ok(Permission { action, resource })
}

/// A permission action, resource segment or capture value usable in one.
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Role and rule names appear in messages, so they are restricted to a safe alphabet.
fn is_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

fn invalid_config(message: impl Into<std::borrow::Cow<'static, str>>) -> AuthError {
    AuthError::with_message(ErrorCode::InvalidConfig, message)
}

fn invalid_request(message: &'static str) -> AuthError {
    AuthError::with_message(ErrorCode::InvalidRequest, message)
}

/// A configuration error for a JSON document, located by line and column. serde's own text is
/// not used because it can quote the document.
pub(crate) fn json_config_error(what: &str, e: &serde_json::Error) -> AuthError {
    let kind = match e.classify() {
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Eof => "unexpected end of input",
        serde_json::error::Category::Data => "unknown, missing, duplicate or mistyped field",
        serde_json::error::Category::Io => "read error",
    };
    invalid_config(format!(
        "{what}: {kind} at line {}, column {}",
        e.line(),
        e.column()
    ))
}

/// One role in a configuration: its own permissions plus those of the roles it inherits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleConfig {
    #[serde(default)]
    pub inherits: Vec<String>,
    #[serde(default)]
    pub permissions: Vec<String>,
}

/// The default role hierarchy from the user guide: `viewer` ⊂ `editor` ⊂ `owner` ⊂ `admin`
/// (the organization administrator).
///
/// * `viewer`: `read:datasets`, `execute:queries.readonly`
/// * `editor`: viewer + `create:datasets`, `update:datasets`, `execute:queries`, `read:api_keys`
/// * `owner`: editor + `manage:project`, `manage:datasets`, `manage:api_keys`
/// * `admin`: owner + `manage:organization`, `manage:billing`, `manage:users`
pub fn default_roles() -> BTreeMap<String, RoleConfig> {
    let role = |inherits: &[&str], permissions: &[&str]| RoleConfig {
        inherits: inherits.iter().map(|s| s.to_string()).collect(),
        permissions: permissions.iter().map(|s| s.to_string()).collect(),
    };
    BTreeMap::from([
        (
            "viewer".to_string(),
            role(&[], &["read:datasets", "execute:queries.readonly"]),
        ),
        (
            "editor".to_string(),
            role(
                &["viewer"],
                &[
                    "create:datasets",
                    "update:datasets",
                    "execute:queries",
                    "read:api_keys",
                ],
            ),
        ),
        (
            "owner".to_string(),
            role(
                &["editor"],
                &["manage:project", "manage:datasets", "manage:api_keys"],
            ),
        ),
        (
            "admin".to_string(),
            role(
                &["owner"],
                &["manage:organization", "manage:billing", "manage:users"],
            ),
        ),
    ])
}

/// Roles with inheritance flattened at load, so evaluation never walks a graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleSet {
    roles: BTreeMap<String, Vec<Permission>>,
}

impl RoleSet {
    /// Refuses unknown inherited roles, inheritance cycles, bad names and bad permissions.
    pub fn new(definitions: &BTreeMap<String, RoleConfig>) -> Result<RoleSet, AuthError> {
        for (name, def) in definitions {
            if !is_label(name) {
                return Err(invalid_config(
                    "role names must be 1-64 characters of letters, digits, _ - . :",
                ));
            }
            for parent in &def.inherits {
                if !definitions.contains_key(parent) {
                    let shown = if is_label(parent) {
                        parent.as_str()
                    } else {
                        "?"
                    };
                    return Err(invalid_config(format!(
                        "role '{name}' inherits unknown role '{shown}'"
                    )));
                }
            }
        }
        // Kahn's algorithm: parents before children, no recursion however deep the chain.
        let mut children: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (name, def) in definitions {
            for parent in &def.inherits {
                children.entry(parent).or_default().push(name);
            }
        }
        let mut waiting: BTreeMap<&str, usize> = definitions
            .iter()
            .map(|(name, def)| (name.as_str(), def.inherits.len()))
            .collect();
        let mut ready: Vec<&str> = waiting
            .iter()
            .filter(|(_, n)| **n == 0)
            .map(|(name, _)| *name)
            .collect();
        let mut roles: BTreeMap<String, Vec<Permission>> = BTreeMap::new();
        while let Some(name) = ready.pop() {
            waiting.remove(name);
            let Some(def) = definitions.get(name) else {
                continue;
            };
            let mut flat = BTreeSet::new();
            for text in &def.permissions {
                let permission = parse_permission(text)
                    .map_err(|why| invalid_config(format!("role '{name}': {why}")))?;
                flat.insert(permission);
            }
            for parent in &def.inherits {
                flat.extend(roles.get(parent).into_iter().flatten().cloned());
            }
            roles.insert(name.to_string(), flat.into_iter().collect());
            for child in children.get(name).into_iter().flatten() {
                if let Some(n) = waiting.get_mut(child) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        ready.push(child);
                    }
                }
            }
        }
        if let Some(name) = waiting.keys().next() {
            return Err(invalid_config(format!(
                "role inheritance has a cycle: role '{name}' cannot be resolved"
            )));
        }
        Ok(RoleSet { roles })
    }

    /// The flattened permissions of `role`, or `None` for a role this set does not define.
    pub fn permissions(&self, role: &str) -> Option<&[Permission]> {
        self.roles.get(role).map(Vec::as_slice)
    }
}

/// What happens to a request no rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unmatched {
    /// Refuse with `access_denied` (fail closed).
    #[default]
    Deny,
    /// Allow any authenticated credential.
    Authenticated,
    /// Allow everyone, as if an anonymous rule matched.
    Allow,
}

/// One route rule.
///
/// `method` is an HTTP method (case-insensitive) or `*`; a `GET` rule also matches `HEAD`
/// because most frameworks answer `HEAD` with the `GET` handler. `path` is a pattern of
/// literal segments and captures: `{name}` matches one segment, a final `{name*}` matches the
/// remaining zero or more segments. A trailing slash is ignored on patterns and paths alike.
/// `require` lists permissions that must all be granted; they may use single-segment captures,
/// as in `read:datasets.{dataset}`, and a request whose captured value is not a valid name is
/// refused rather than spliced into a permission. A capture called `dataset` is also checked
/// against the credential's dataset restriction. `anonymous` rules need no credential.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub name: String,
    #[serde(default = "any_method")]
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub require: Vec<String>,
    #[serde(default)]
    pub anonymous: bool,
}

fn any_method() -> String {
    "*".to_string()
}

fn yes() -> bool {
    true
}

/// A policy document: `{"roles": {...}, "rules": [...], "unmatched": "deny"}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// Whether [`default_roles`] are included. Roles in `roles` replace defaults of the same name.
    #[serde(default = "yes")]
    pub default_roles: bool,
    #[serde(default, deserialize_with = "unique_keys")]
    pub roles: BTreeMap<String, RoleConfig>,
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
    #[serde(default)]
    pub unmatched: Unmatched,
}

/// A map that refuses duplicate keys: with last-wins, a second `"admin"` entry could silently
/// replace the first.
fn unique_keys<'de, D>(deserializer: D) -> Result<BTreeMap<String, RoleConfig>, D::Error>
where
    D: Deserializer<'de>,
{
    struct UniqueKeys;

    impl<'de> Visitor<'de> for UniqueKeys {
        type Value = BTreeMap<String, RoleConfig>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map of role names to roles")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some((key, value)) = map.next_entry::<String, RoleConfig>()? {
                if out.insert(key, value).is_some() {
                    return Err(serde::de::Error::custom("duplicate role name"));
                }
            }
            Ok(out)
        }
    }

    deserializer.deserialize_map(UniqueKeys)
}

/// What a credential brings to a decision. For JWTs `permissions` are the scopes (split on
/// spaces) and `roles` a roles claim; for API keys see `apikey::KeyRecord::grant`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grant {
    /// Granted permissions. Entries that do not parse grant nothing.
    pub permissions: Vec<String>,
    /// Deny entries; they beat every allow. An entry that does not parse refuses every rule
    /// that requires a permission (fail closed).
    pub denied: Vec<String>,
    /// Role names; roles the policy does not define grant nothing.
    pub roles: Vec<String>,
    /// Datasets the credential may touch; empty means all.
    pub datasets: Vec<String>,
}

/// An allowed request: the rule it matched and what its path captured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    /// The matched rule, or `None` when an unmatched route was allowed by configuration.
    pub rule: Option<String>,
    /// Percent-decoded captures; a `{rest*}` capture joins its segments with `/`.
    pub captures: Captures,
    /// The `dataset` capture, if the rule has one.
    pub dataset: Option<String>,
    /// The route needs no credential.
    pub anonymous: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Capture(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Capture(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    name: String,
    /// Upper-case; `None` matches every method.
    method: Option<String>,
    segments: Vec<Segment>,
    rest: Option<String>,
    require: Vec<Vec<Part>>,
    anonymous: bool,
}

/// A compiled policy: roles flattened, patterns and permission templates validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    roles: RoleSet,
    rules: Vec<Rule>,
    unmatched: Unmatched,
}

impl Policy {
    /// Parses and compiles a JSON policy document.
    pub fn from_json(json: &str) -> Result<Policy, AuthError> {
        let config: PolicyConfig =
            serde_json::from_str(json).map_err(|e| json_config_error("policy", &e))?;
        Policy::new(&config)
    }

    /// Compiles a policy; every problem is `invalid_config` naming the rule or role.
    pub fn new(config: &PolicyConfig) -> Result<Policy, AuthError> {
        let mut definitions = if config.default_roles {
            default_roles()
        } else {
            BTreeMap::new()
        };
        definitions.extend(config.roles.clone());
        let roles = RoleSet::new(&definitions)?;
        let mut names = BTreeSet::new();
        let mut rules = Vec::with_capacity(config.rules.len());
        for (index, rule) in config.rules.iter().enumerate() {
            let compiled = compile_rule(rule).map_err(|why| {
                if is_label(&rule.name) {
                    invalid_config(format!("rule '{}': {why}", rule.name))
                } else {
                    invalid_config(format!("rules[{index}]: {why}"))
                }
            })?;
            if !names.insert(compiled.name.clone()) {
                return Err(invalid_config(format!(
                    "rule '{}' is defined twice",
                    compiled.name
                )));
            }
            rules.push(compiled);
        }
        Ok(Policy {
            roles,
            rules,
            unmatched: config.unmatched,
        })
    }

    pub fn roles(&self) -> &RoleSet {
        &self.roles
    }

    /// Decides a request from an authenticated credential.
    ///
    /// Refusals: `invalid_request` for a malformed method or path, `access_denied` for an
    /// unmatched route (unless configured otherwise), an explicit deny or a dataset outside the
    /// credential's restriction, and `insufficient_scope` naming the rule and, as the scope, the
    /// missing permissions.
    pub fn evaluate(
        &self,
        method: &str,
        path: &str,
        grant: &Grant,
    ) -> Result<RouteMatch, AuthError> {
        let Some((rule, captures)) = self.route(method, path)? else {
            return match self.unmatched {
                Unmatched::Deny => Err(AuthError::with_message(
                    ErrorCode::AccessDenied,
                    "no rule matches this route",
                )),
                Unmatched::Authenticated | Unmatched::Allow => Ok(RouteMatch {
                    rule: None,
                    captures: BTreeMap::new(),
                    dataset: None,
                    anonymous: self.unmatched == Unmatched::Allow,
                }),
            };
        };
        if rule.anonymous {
            return Ok(route_match(rule, captures));
        }
        let mut required = Vec::with_capacity(rule.require.len());
        for template in &rule.require {
            let text = render(template, &captures)?;
            let permission = parse_permission(&text)
                .map_err(|_| invalid_request("the path does not form a valid permission"))?;
            required.push((text, permission));
        }
        if !required.is_empty() {
            for entry in &grant.denied {
                let Ok(deny) = parse_permission(entry) else {
                    return Err(AuthError::with_message(
                        ErrorCode::AccessDenied,
                        "the credential has a deny entry that is not a valid permission",
                    ));
                };
                if let Some((text, _)) = required.iter().find(|(_, p)| deny.overlaps(p)) {
                    return Err(AuthError::with_message(
                        ErrorCode::AccessDenied,
                        format!("rule '{}': {text} is denied for this credential", rule.name),
                    ));
                }
            }
        }
        if let Some(dataset) = captures.get(DATASET_CAPTURE) {
            if !grant.datasets.is_empty() && !grant.datasets.iter().any(|d| d == dataset) {
                return Err(AuthError::with_message(
                    ErrorCode::AccessDenied,
                    "the credential is not allowed to access this dataset",
                ));
            }
        }
        let granted: Vec<Permission> = grant
            .permissions
            .iter()
            .filter_map(|p| parse_permission(p).ok())
            .collect();
        let from_roles = || {
            grant
                .roles
                .iter()
                .filter_map(|r| self.roles.permissions(r))
                .flatten()
        };
        let missing: Vec<&str> = required
            .iter()
            .filter(|(_, wanted)| {
                !granted.iter().any(|g| g.covers(wanted)) && !from_roles().any(|g| g.covers(wanted))
            })
            .map(|(text, _)| text.as_str())
            .collect();
        if !missing.is_empty() {
            let missing = missing.join(" ");
            return Err(AuthError::with_message(
                ErrorCode::InsufficientScope,
                format!("rule '{}' requires {missing}", rule.name),
            )
            .with_scope(missing));
        }
        Ok(route_match(rule, captures))
    }

    /// Decides a request that carries no credential: allowed only by an anonymous rule (or an
    /// unmatched route under `"unmatched": "allow"`), otherwise `missing_credentials`.
    pub fn evaluate_anonymous(&self, method: &str, path: &str) -> Result<RouteMatch, AuthError> {
        match self.route(method, path)? {
            Some((rule, captures)) if rule.anonymous => Ok(route_match(rule, captures)),
            None if self.unmatched == Unmatched::Allow => Ok(RouteMatch {
                rule: None,
                captures: BTreeMap::new(),
                dataset: None,
                anonymous: true,
            }),
            None if self.unmatched == Unmatched::Deny => Err(AuthError::with_message(
                ErrorCode::AccessDenied,
                "no rule matches this route",
            )),
            _ => Err(AuthError::new(ErrorCode::MissingCredentials)),
        }
    }

    fn route(&self, method: &str, path: &str) -> Result<Option<(&Rule, Captures)>, AuthError> {
        let method = normalize_method(method)?;
        let segments = split_path(path)?;
        Ok(self.rules.iter().find_map(|rule| {
            let method_ok = match rule.method.as_deref() {
                None => true,
                Some(m) => m == method || (m == "GET" && method == "HEAD"),
            };
            if !method_ok {
                return None;
            }
            match_segments(rule, &segments).map(|captures| (rule, captures))
        }))
    }
}

fn route_match(rule: &Rule, captures: Captures) -> RouteMatch {
    RouteMatch {
        rule: Some(rule.name.clone()),
        dataset: captures.get(DATASET_CAPTURE).cloned(),
        captures,
        anonymous: rule.anonymous,
    }
}

fn match_segments(rule: &Rule, segments: &[String]) -> Option<Captures> {
    let fixed = rule.segments.len();
    let length_ok = match rule.rest {
        Some(_) => segments.len() >= fixed,
        None => segments.len() == fixed,
    };
    if !length_ok {
        return None;
    }
    let mut captures = BTreeMap::new();
    for (pattern, segment) in rule.segments.iter().zip(segments) {
        match pattern {
            Segment::Literal(literal) if literal == segment => {}
            Segment::Literal(_) => return None,
            Segment::Capture(name) => {
                captures.insert(name.clone(), segment.clone());
            }
        }
    }
    if let Some(name) = &rule.rest {
        captures.insert(name.clone(), segments.get(fixed..)?.join("/"));
    }
    Some(captures)
}

fn render(template: &[Part], captures: &Captures) -> Result<String, AuthError> {
    let mut out = String::new();
    for part in template {
        match part {
            Part::Text(text) => out.push_str(text),
            Part::Capture(name) => match captures.get(name) {
                Some(value) if is_name(value) => out.push_str(value),
                _ => {
                    return Err(invalid_request(
                        "a path segment is not a valid resource name",
                    ))
                }
            },
        }
    }
    Ok(out)
}

fn normalize_method(method: &str) -> Result<String, AuthError> {
    if method.is_empty()
        || method.len() > MAX_METHOD_LEN
        || !method.bytes().all(|b| b.is_ascii_alphabetic())
    {
        return Err(invalid_request("the request method is not valid"));
    }
    Ok(method.to_ascii_uppercase())
}

/// Splits a request path into percent-decoded segments, refusing every form that two parsers
/// could read differently.
fn split_path(path: &str) -> Result<Vec<String>, AuthError> {
    if path.len() > MAX_PATH_LEN {
        return Err(invalid_request("the request path is too long"));
    }
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let Some(rest) = path.strip_prefix('/') else {
        return Err(invalid_request("the request path must start with /"));
    };
    for b in rest.bytes() {
        match b {
            b'\\' => return Err(invalid_request("the request path contains a backslash")),
            b'#' | b';' => {
                return Err(invalid_request(
                    "the request path contains a fragment or parameter delimiter",
                ))
            }
            0x21..=0x7e => {}
            _ => {
                return Err(invalid_request(
                    "the request path contains a control, space or non-ASCII byte",
                ))
            }
        }
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    rest.split('/').map(decode_segment).collect()
}

fn decode_segment(raw: &str) -> Result<String, AuthError> {
    if raw.is_empty() {
        return Err(invalid_request(
            "the request path contains an empty segment",
        ));
    }
    let mut bytes = Vec::with_capacity(raw.len());
    let mut input = raw.bytes();
    while let Some(b) = input.next() {
        if b != b'%' {
            bytes.push(b);
            continue;
        }
        let decoded = match (input.next().and_then(hex), input.next().and_then(hex)) {
            (Some(hi), Some(lo)) => hi << 4 | lo,
            _ => {
                return Err(invalid_request(
                    "the request path has invalid percent-encoding",
                ))
            }
        };
        match decoded {
            b'/' | b'\\' => {
                return Err(invalid_request(
                    "the request path contains an encoded slash or backslash",
                ))
            }
            b'%' => {
                return Err(invalid_request(
                    "the request path contains an encoded percent sign",
                ))
            }
            // Refused raw, so refused encoded too: `/admin%3Bx` must not slip past an `admin`
            // rule here while a server that decodes before stripping `;` parameters (or before
            // splitting off a query or fragment) routes it to `/admin`.
            b';' | b'?' | b'#' => {
                return Err(invalid_request(
                    "the request path contains an encoded parameter, query or fragment delimiter",
                ))
            }
            0x00..=0x1f | 0x7f => {
                return Err(invalid_request(
                    "the request path contains an encoded control byte",
                ))
            }
            _ => bytes.push(decoded),
        }
    }
    let segment = String::from_utf8(bytes)
        .map_err(|_| invalid_request("the request path is not valid UTF-8"))?;
    if segment == "." || segment == ".." {
        return Err(invalid_request("the request path contains a dot segment"));
    }
    Ok(segment)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn compile_rule(config: &RuleConfig) -> Result<Rule, String> {
    if !is_label(&config.name) {
        return Err("name must be 1-64 characters of letters, digits, _ - . :".into());
    }
    let method = match config.method.as_str() {
        "*" => None,
        m => Some(normalize_method(m).map_err(|_| "method must be * or an HTTP method")?),
    };
    let (segments, rest) = compile_pattern(&config.path)?;
    if config.anonymous && !config.require.is_empty() {
        return Err("an anonymous rule cannot require permissions".into());
    }
    let require = config
        .require
        .iter()
        .map(|t| compile_template(t, &segments, rest.as_deref()))
        .collect::<Result<_, _>>()?;
    Ok(Rule {
        name: config.name.clone(),
        method,
        segments,
        rest,
        require,
        anonymous: config.anonymous,
    })
}

fn compile_pattern(pattern: &str) -> Result<(Vec<Segment>, Option<String>), String> {
    let Some(body) = pattern.strip_prefix('/') else {
        return Err("path must start with /".into());
    };
    let body = body.strip_suffix('/').unwrap_or(body);
    let mut segments = Vec::new();
    let mut rest = None;
    let mut seen = BTreeSet::new();
    if body.is_empty() {
        return Ok((segments, rest));
    }
    for raw in body.split('/') {
        if rest.is_some() {
            return Err("a {name*} capture must be the last segment".into());
        }
        if let Some(inner) = raw.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
            let (name, is_rest) = match inner.strip_suffix('*') {
                Some(name) => (name, true),
                None => (inner, false),
            };
            if !is_capture_name(name) {
                return Err(
                    "capture names must be a letter or _ followed by letters, digits, _".into(),
                );
            }
            if !seen.insert(name.to_string()) {
                return Err(format!("capture '{name}' appears twice"));
            }
            if is_rest {
                rest = Some(name.to_string());
            } else {
                segments.push(Segment::Capture(name.to_string()));
            }
        } else {
            let literal_ok = !raw.is_empty()
                && raw != "."
                && raw != ".."
                && raw != "*"
                && raw.bytes().all(|b| {
                    (0x21..=0x7e).contains(&b)
                        && !matches!(b, b'{' | b'}' | b'%' | b'\\' | b';' | b'?' | b'#')
                });
            if !literal_ok {
                return Err("path segments must be literal text (no empty, . or .. segments, no %, \\, ;, ?, #, braces or *) or {captures}".into());
            }
            segments.push(Segment::Literal(raw.to_string()));
        }
    }
    Ok((segments, rest))
}

fn is_capture_name(s: &str) -> bool {
    s.len() <= MAX_NAME_LEN
        && s.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn compile_template(
    text: &str,
    segments: &[Segment],
    rest: Option<&str>,
) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut remaining = text;
    while let Some(open) = remaining.find('{') {
        let (literal, after) = remaining.split_at(open);
        if !literal.is_empty() {
            parts.push(Part::Text(literal.to_string()));
        }
        let Some((name, tail)) = after.get(1..).and_then(|a| a.split_once('}')) else {
            return Err("a permission has an unclosed {".into());
        };
        if rest == Some(name) {
            return Err(format!(
                "permission uses the multi-segment capture '{name}', which cannot form a resource name"
            ));
        }
        if !segments.contains(&Segment::Capture(name.to_string())) {
            let shown = if is_capture_name(name) { name } else { "?" };
            return Err(format!("permission uses unknown capture '{shown}'"));
        }
        parts.push(Part::Capture(name.to_string()));
        remaining = tail;
    }
    if !remaining.is_empty() {
        parts.push(Part::Text(remaining.to_string()));
    }
    let sample: String = parts
        .iter()
        .map(|p| match p {
            Part::Text(t) => t.as_str(),
            Part::Capture(_) => "x",
        })
        .collect();
    parse_permission(&sample)?;
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn perm(s: &str) -> Permission {
        s.parse().unwrap()
    }

    fn grant(permissions: &[&str]) -> Grant {
        Grant {
            permissions: permissions.iter().map(|s| s.to_string()).collect(),
            ..Grant::default()
        }
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    const POLICY: &str = r#"{
        "roles": {
            "analyst": { "inherits": ["viewer"], "permissions": ["execute:queries"] }
        },
        "rules": [
            { "name": "health", "method": "GET", "path": "/health", "anonymous": true },
            { "name": "datasets-read", "method": "GET",
              "path": "/v1/{org}/{project}/datasets/{dataset}",
              "require": ["read:datasets.{dataset}"] },
            { "name": "datasets-delete", "method": "DELETE",
              "path": "/v1/{org}/{project}/datasets/{dataset}",
              "require": ["delete:datasets.{dataset}", "manage:project"] },
            { "name": "datasets-list", "method": "GET", "path": "/v1/{org}/{project}/datasets",
              "require": ["read:datasets"] },
            { "name": "query", "method": "POST", "path": "/v1/{org}/{project}/query",
              "require": ["execute:queries.readonly"] },
            { "name": "static", "method": "GET", "path": "/static/{rest*}", "anonymous": true },
            { "name": "me", "path": "/v1/me" },
            { "name": "admin", "method": "*", "path": "/admin/{rest*}", "require": ["admin"] }
        ]
    }"#;

    fn policy() -> Policy {
        Policy::from_json(POLICY).unwrap()
    }

    fn code(r: Result<RouteMatch, AuthError>) -> ErrorCode {
        r.unwrap_err().code()
    }

    fn config_err(json: &str) -> String {
        let e = Policy::from_json(json).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidConfig, "{json}");
        e.message().to_string()
    }

    fn rules_err(rules: &str) -> String {
        config_err(&format!(r#"{{"rules": [{rules}]}}"#))
    }

    #[test]
    fn permissions_parse_to_canonical_forms() {
        for (text, canonical) in [
            ("*", "*"),
            ("*:*", "*"),
            ("read", "read:*"),
            ("read:*", "read:*"),
            ("read:data", "read:data"),
            ("read:datasets.sales", "read:datasets.sales"),
            ("read:datasets.*", "read:datasets.*"),
            ("*:datasets.sales", "*:datasets.sales"),
            ("execute:queries.readonly", "execute:queries.readonly"),
            ("manage:api_keys", "manage:api_keys"),
            ("x-y_Z9:a-b.c_d", "x-y_Z9:a-b.c_d"),
        ] {
            let p = perm(text);
            assert_eq!(p.to_string(), canonical, "{text}");
            assert_eq!(perm(canonical), p);
        }
    }

    #[test]
    fn malformed_permissions_are_refused() {
        for bad in [
            "",
            ":",
            "read:",
            ":data",
            "read:data:x",
            "read:.data",
            "read:data.",
            "read:data..x",
            "read:*.x",
            "read:data.*.x",
            "read:data*",
            "re*d:data",
            "read :data",
            "read:da ta",
            "read:dätä",
            "réad",
            "read\0",
            "read:data/x",
            "read:{dataset}",
        ] {
            let e = bad.parse::<Permission>().unwrap_err();
            assert_eq!(e.code(), ErrorCode::InvalidConfig, "{bad:?}");
        }
        assert!("read:".to_string().parse::<Permission>().is_err());
        assert!(format!("read:{}", "a".repeat(65))
            .parse::<Permission>()
            .is_err());
        assert!(format!("read:{}", "a.".repeat(200) + "a")
            .parse::<Permission>()
            .unwrap_err()
            .message()
            .contains("too long"));
    }

    #[test]
    fn covering_follows_the_documented_rules() {
        let covers = |g: &str, w: &str| perm(g).covers(&perm(w));
        for (g, w) in [
            ("*", "delete:anything.at.all"),
            ("*", "*"),
            ("read:*", "read:datasets.sales"),
            ("read", "read:datasets.sales"),
            ("read", "read:*"),
            ("read:datasets", "read:datasets"),
            ("read:datasets", "read:datasets.sales"),
            ("read:datasets", "read:datasets.sales.q1"),
            ("read:datasets", "read:datasets.*"),
            ("read:datasets.*", "read:datasets.sales"),
            ("read:datasets.*", "read:datasets.*"),
            ("read:datasets.*", "read:datasets.sales.*"),
            ("*:datasets", "delete:datasets.sales"),
            ("execute:queries", "execute:queries.readonly"),
        ] {
            assert!(covers(g, w), "{g} should cover {w}");
        }
        for (g, w) in [
            ("read:*", "*"),
            ("read:*", "write:datasets"),
            ("read", "write"),
            ("read:datasets", "read:*"),
            ("read:datasets.sales", "read:datasets"),
            ("read:datasets.sales", "read:datasets.*"),
            ("read:datasets.*", "read:datasets"),
            ("read:datasets.sales", "read:datasets.salesforce"),
            ("read:data", "read:datasets"),
            ("*:datasets", "*"),
            ("read:datasets", "*:datasets"),
            ("manage:datasets", "read:datasets"),
            ("execute:queries.readonly", "execute:queries"),
        ] {
            assert!(!covers(g, w), "{g} should not cover {w}");
        }
    }

    #[test]
    fn overlapping_is_symmetric_intersection() {
        let overlaps = |a: &str, b: &str| perm(a).overlaps(&perm(b)) && perm(b).overlaps(&perm(a));
        assert!(overlaps("delete:*", "delete:datasets.sales"));
        assert!(overlaps("read:datasets.secret", "read:datasets"));
        assert!(overlaps("read:datasets.*", "read:datasets"));
        assert!(overlaps("*", "anything:x"));
        assert!(overlaps("*:datasets", "read:datasets.x"));
        assert!(!overlaps("delete:*", "read:datasets"));
        assert!(!overlaps("read:datasets.secret", "read:datasets.sales"));
        assert!(!overlaps("read:data", "read:datasets"));
    }

    #[test]
    fn default_roles_follow_the_guide() {
        let roles = RoleSet::new(&default_roles()).unwrap();
        let has = |role: &str, p: &str| {
            roles
                .permissions(role)
                .unwrap()
                .iter()
                .any(|g| g.covers(&perm(p)))
        };
        let listed = |role: &str| {
            roles
                .permissions(role)
                .unwrap()
                .iter()
                .map(|p| p.to_string())
                .collect::<BTreeSet<_>>()
        };
        assert_eq!(
            listed("viewer"),
            BTreeSet::from(["read:datasets".into(), "execute:queries.readonly".into()])
        );
        assert_eq!(listed("editor").len(), 6);
        assert_eq!(listed("owner").len(), 9);
        assert_eq!(listed("admin").len(), 12);
        assert!(listed("admin").is_superset(&listed("owner")));
        assert!(listed("owner").is_superset(&listed("editor")));
        assert!(listed("editor").is_superset(&listed("viewer")));
        assert!(has("viewer", "read:datasets.sales"));
        assert!(!has("viewer", "execute:queries"));
        assert!(has("editor", "execute:queries.anything"));
        assert!(!has("editor", "manage:api_keys"));
        assert!(has("owner", "manage:api_keys"));
        assert!(!has("owner", "manage:billing"));
        assert!(has("admin", "manage:users"));
        assert!(roles.permissions("superuser").is_none());
    }

    #[test]
    fn role_graphs_are_validated() {
        let roles = |json: &str| {
            let defs: BTreeMap<String, RoleConfig> = serde_json::from_str(json).unwrap();
            RoleSet::new(&defs)
        };
        let msg = |json: &str| {
            let e = roles(json).unwrap_err();
            assert_eq!(e.code(), ErrorCode::InvalidConfig);
            e.message().to_string()
        };
        assert_eq!(
            msg(r#"{"a": {"inherits": ["ghost"]}}"#),
            "role 'a' inherits unknown role 'ghost'"
        );
        assert_eq!(
            msg(r#"{"a": {"inherits": ["b"]}, "b": {"inherits": ["a"]}}"#),
            "role inheritance has a cycle: role 'a' cannot be resolved"
        );
        assert_eq!(
            msg(r#"{"a": {"inherits": ["a"]}}"#),
            "role inheritance has a cycle: role 'a' cannot be resolved"
        );
        assert!(
            msg(r#"{"a": {}, "b": {"inherits": ["a", "c"]}, "c": {"inherits": ["b"]}}"#)
                .contains("cycle")
        );
        assert!(msg(r#"{"bad name": {}}"#).contains("role names"));
        assert!(msg(r#"{"": {}}"#).contains("role names"));
        assert_eq!(
            msg(r#"{"a": {"permissions": ["read:"]}}"#),
            "role 'a': permission resource must be dot-separated names, optionally ending in .*"
        );
        assert!(msg(r#"{"a": {"inherits": ["x\ny"]}}"#).ends_with("unknown role '?'"));
        // Diamonds and duplicate parents are fine.
        let set = roles(
            r#"{"a": {"permissions": ["read:x"]}, "b": {"inherits": ["a"]},
                "c": {"inherits": ["a"]}, "d": {"inherits": ["b", "c", "b"], "permissions": ["write:y"]}}"#,
        )
        .unwrap();
        assert_eq!(set.permissions("d").unwrap().len(), 2);
    }

    #[test]
    fn a_long_inheritance_chain_does_not_recurse() {
        let mut defs = BTreeMap::new();
        for i in 0..5000 {
            let inherits = if i == 0 {
                vec![]
            } else {
                vec![format!("r{}", i - 1)]
            };
            defs.insert(
                format!("r{i}"),
                RoleConfig {
                    inherits,
                    permissions: vec![],
                },
            );
        }
        defs.get_mut("r0").unwrap().permissions = vec!["read:x".into()];
        let set = RoleSet::new(&defs).unwrap();
        assert_eq!(set.permissions("r4999").unwrap(), [perm("read:x")]);
    }

    #[test]
    fn custom_roles_extend_or_replace_the_defaults() {
        let p = policy();
        assert_eq!(
            p.roles().permissions("analyst").unwrap().len(),
            3,
            "viewer's two plus execute:queries"
        );
        assert!(p.roles().permissions("admin").is_some());
        let replaced =
            Policy::from_json(r#"{"roles": {"viewer": {"permissions": ["read:public"]}}}"#)
                .unwrap();
        assert_eq!(
            replaced.roles().permissions("editor").unwrap().len(),
            5,
            "editor now inherits the replaced viewer"
        );
        let bare = Policy::from_json(r#"{"default_roles": false}"#).unwrap();
        assert!(bare.roles().permissions("viewer").is_none());
        assert!(config_err(r#"{"roles": {"a": {}, "a": {}}}"#).contains("line 1"));
    }

    #[test]
    fn config_mistakes_are_refused_with_their_location() {
        assert_eq!(
            config_err("{\"rules\": [{\"name\": \"x\", \"path\": \"/\", \"requires\": []}]}"),
            "policy: unknown, missing, duplicate or mistyped field at line 1, column 48"
        );
        assert!(config_err("{\"unmatched\": \"maybe\"}").contains("mistyped"));
        assert!(config_err("{").contains("unexpected end"));
        assert!(config_err("{\"rules\": [,]}").contains("syntax error at line 1, column 12"));
        assert!(config_err(r#"{"rules": [{"path": "/"}]}"#).contains("field"));
    }

    #[test]
    fn rules_are_validated_at_load() {
        let rule = |extra: &str| rules_err(&format!(r#"{{"name": "r", {extra}}}"#));
        assert_eq!(
            rule(r#""path": "v1/x""#),
            "rule 'r': path must start with /"
        );
        for path in [
            "/v1//x", "/v1/../x", "/v1/./x", "/v1/*", "/v1/%2F", "/a\\b", "/a;b", "/a?b", "/é",
        ] {
            assert!(
                rule(&format!(
                    r#""path": {}"#,
                    serde_json::to_string(path).unwrap()
                ))
                .contains("path segments must be literal text"),
                "{path}"
            );
        }
        assert!(rule(r#""path": "/{rest*}/x""#).contains("must be the last segment"));
        assert!(rule(r#""path": "/{a}/{a}""#).contains("capture 'a' appears twice"));
        assert!(rule(r#""path": "/{a}/{a*}""#).contains("appears twice"));
        assert!(rule(r#""path": "/{1a}""#).contains("capture names"));
        assert!(rule(r#""path": "/{}""#).contains("capture names"));
        assert_eq!(
            rule(r#""path": "/{a}", "require": ["read:{b}"]"#),
            "rule 'r': permission uses unknown capture 'b'"
        );
        assert!(rule(r#""path": "/{a*}", "require": ["read:{a}"]"#).contains("multi-segment"));
        assert!(rule(r#""path": "/{a}", "require": ["read:{a"]"#).contains("unclosed"));
        assert!(rule(r#""path": "/{a}", "require": ["read:x.{a}*"]"#).contains("resource"));
        assert!(rule(r#""path": "/", "require": ["read:"]"#).contains("resource"));
        assert!(rule(r#""path": "/", "method": "GE T""#).contains("method"));
        assert!(rule(r#""path": "/", "method": """#).contains("method"));
        assert!(
            rule(r#""path": "/", "anonymous": true, "require": ["read"]"#)
                .contains("anonymous rule cannot require")
        );
        assert_eq!(
            rules_err(r#"{"name": "a", "path": "/"}, {"name": "a", "path": "/x"}"#),
            "rule 'a' is defined twice"
        );
        assert!(rules_err(r#"{"name": "bad name", "path": "x"}"#).starts_with("rules[0]: name"));
        assert!(
            rules_err(r#"{"name": "ok", "path": "/"}, {"name": "x", "path": "x"}"#)
                .starts_with("rule 'x'")
        );
    }

    #[test]
    fn grants_matching_the_required_permission_are_allowed() {
        let p = policy();
        let path = "/v1/acme/web/datasets/sales";
        for permissions in [
            &["read:datasets.sales"][..],
            &["read:datasets"],
            &["read:datasets.*"],
            &["read:*"],
            &["read"],
            &["*"],
            &["*:datasets.sales"],
            &["junk::", "read:datasets.sales"],
        ] {
            let d = p.evaluate("GET", path, &grant(permissions)).unwrap();
            assert_eq!(
                d,
                RouteMatch {
                    rule: Some("datasets-read".into()),
                    captures: Captures::from([
                        ("dataset".into(), "sales".into()),
                        ("org".into(), "acme".into()),
                        ("project".into(), "web".into()),
                    ]),
                    dataset: Some("sales".into()),
                    anonymous: false,
                },
                "{permissions:?}"
            );
        }
    }

    #[test]
    fn missing_permissions_name_the_rule_and_scope() {
        let p = policy();
        let path = "/v1/acme/web/datasets/sales";
        for permissions in [
            &[][..],
            &["read:datasets.marketing"],
            &["read:datasets.sales.q1"],
            &["write:datasets.sales"],
            &["read:data"],
            &["write"],
            &["read:"],
        ] {
            let e = p.evaluate("GET", path, &grant(permissions)).unwrap_err();
            assert_eq!(e.code(), ErrorCode::InsufficientScope, "{permissions:?}");
            assert_eq!(
                e.message(),
                "rule 'datasets-read' requires read:datasets.sales"
            );
            assert_eq!(e.scope(), Some("read:datasets.sales"));
        }
        let e = p
            .evaluate("DELETE", path, &grant(&["delete:datasets"]))
            .unwrap_err();
        assert_eq!(
            e.message(),
            "rule 'datasets-delete' requires manage:project"
        );
        let e = p.evaluate("DELETE", path, &grant(&[])).unwrap_err();
        assert_eq!(
            e.scope(),
            Some("delete:datasets.sales manage:project"),
            "every missing permission is listed"
        );
    }

    #[test]
    fn roles_grant_their_flattened_permissions() {
        let p = policy();
        let with_roles = |roles: &[&str]| Grant {
            roles: strings(roles),
            ..Grant::default()
        };
        let path = "/v1/acme/web/datasets/sales";
        assert!(p.evaluate("GET", path, &with_roles(&["viewer"])).is_ok());
        assert!(p.evaluate("GET", path, &with_roles(&["analyst"])).is_ok());
        assert!(p
            .evaluate("POST", "/v1/acme/web/query", &with_roles(&["viewer"]))
            .is_ok());
        assert_eq!(
            code(p.evaluate("GET", path, &with_roles(&["ghost", "VIEWER"]))),
            ErrorCode::InsufficientScope
        );
        let e = p
            .evaluate("DELETE", path, &with_roles(&["admin"]))
            .unwrap_err();
        assert_eq!(
            e.scope(),
            Some("delete:datasets.sales"),
            "manage does not imply delete"
        );
        let mixed = Grant {
            permissions: strings(&["delete:datasets.sales"]),
            roles: strings(&["owner"]),
            ..Grant::default()
        };
        assert!(p.evaluate("DELETE", path, &mixed).is_ok());
    }

    #[test]
    fn explicit_deny_beats_every_allow() {
        let p = policy();
        let path = "/v1/acme/web/datasets/sales";
        let denied = |deny: &[&str]| Grant {
            permissions: strings(&["*"]),
            denied: strings(deny),
            roles: strings(&["admin"]),
            ..Grant::default()
        };
        let e = p
            .evaluate("DELETE", path, &denied(&["delete:*"]))
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::AccessDenied);
        assert_eq!(
            e.message(),
            "rule 'datasets-delete': delete:datasets.sales is denied for this credential"
        );
        assert!(p.evaluate("GET", path, &denied(&["delete:*"])).is_ok());
        assert_eq!(
            code(p.evaluate("GET", path, &denied(&["read:datasets.sales"]))),
            ErrorCode::AccessDenied
        );
        assert!(p
            .evaluate("GET", path, &denied(&["read:datasets.marketing"]))
            .is_ok());
        assert_eq!(
            code(p.evaluate(
                "GET",
                "/v1/acme/web/datasets",
                &denied(&["read:datasets.secret"])
            )),
            ErrorCode::AccessDenied,
            "denying a child removes the parent"
        );
        assert_eq!(
            code(p.evaluate("GET", path, &denied(&["*"]))),
            ErrorCode::AccessDenied
        );
        let e = p.evaluate("GET", path, &denied(&["read:"])).unwrap_err();
        assert_eq!(
            e.code(),
            ErrorCode::AccessDenied,
            "an unreadable deny fails closed"
        );
        assert!(e.message().contains("not a valid permission"));
        // Rules that require nothing and anonymous rules are not affected.
        assert!(p.evaluate("GET", "/v1/me", &denied(&["*"])).is_ok());
        assert!(p.evaluate("GET", "/health", &denied(&["*"])).is_ok());
    }

    #[test]
    fn dataset_restrictions_apply_to_the_dataset_capture() {
        let p = policy();
        let restricted = |datasets: &[&str]| Grant {
            permissions: strings(&["*"]),
            datasets: strings(datasets),
            ..Grant::default()
        };
        let path = "/v1/acme/web/datasets/sales";
        assert!(p.evaluate("GET", path, &restricted(&["sales"])).is_ok());
        assert!(p
            .evaluate("GET", path, &restricted(&["marketing", "sales"]))
            .is_ok());
        let e = p
            .evaluate("GET", path, &restricted(&["marketing"]))
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::AccessDenied);
        assert_eq!(
            e.message(),
            "the credential is not allowed to access this dataset"
        );
        assert_eq!(
            code(p.evaluate("GET", path, &restricted(&["Sales"]))),
            ErrorCode::AccessDenied
        );
        // Routes without a dataset capture are not restricted.
        assert!(p
            .evaluate("GET", "/v1/acme/web/datasets", &restricted(&["marketing"]))
            .is_ok());
    }

    #[test]
    fn methods_match_case_insensitively_and_get_covers_head() {
        let p = policy();
        let g = grant(&["read:datasets"]);
        let path = "/v1/acme/web/datasets/sales";
        assert!(p.evaluate("get", path, &g).is_ok());
        assert_eq!(
            p.evaluate("HEAD", path, &g).unwrap().rule.as_deref(),
            Some("datasets-read")
        );
        assert_eq!(
            code(p.evaluate("POST", path, &g)),
            ErrorCode::AccessDenied,
            "no POST rule: unmatched"
        );
        assert_eq!(
            p.evaluate("PATCH", "/v1/me", &g).unwrap().rule.as_deref(),
            Some("me")
        );
        for bad in ["", "G3T", "GET ", "GÉT", "GET\r\n", &"A".repeat(33)] {
            assert_eq!(
                code(p.evaluate(bad, path, &g)),
                ErrorCode::InvalidRequest,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn first_matching_rule_wins() {
        let p = Policy::from_json(
            r#"{"rules": [
                {"name": "public-report", "method": "GET", "path": "/reports/public", "anonymous": true},
                {"name": "reports", "path": "/reports/{id}", "require": ["read:reports.{id}"]},
                {"name": "never", "path": "/reports/public", "require": ["admin"]}
            ]}"#,
        )
        .unwrap();
        let d = p.evaluate("GET", "/reports/public", &grant(&[])).unwrap();
        assert_eq!(d.rule.as_deref(), Some("public-report"));
        assert!(d.anonymous);
        let e = p
            .evaluate("POST", "/reports/public", &grant(&[]))
            .unwrap_err();
        assert_eq!(e.message(), "rule 'reports' requires read:reports.public");
    }

    #[test]
    fn unmatched_routes_follow_the_configuration() {
        let with = |unmatched: &str| {
            Policy::from_json(&format!(
                r#"{{"unmatched": "{unmatched}", "rules": [{{"name": "a", "path": "/a", "require": ["admin"]}}]}}"#
            ))
            .unwrap()
        };
        let deny = with("deny");
        let e = deny.evaluate("GET", "/b", &grant(&["*"])).unwrap_err();
        assert_eq!(e.code(), ErrorCode::AccessDenied);
        assert_eq!(e.message(), "no rule matches this route");
        assert_eq!(
            code(deny.evaluate_anonymous("GET", "/b")),
            ErrorCode::AccessDenied
        );
        let default = Policy::from_json(r#"{"rules": []}"#).unwrap();
        assert_eq!(
            code(default.evaluate("GET", "/", &grant(&["*"]))),
            ErrorCode::AccessDenied
        );

        let authenticated = with("authenticated");
        let d = authenticated.evaluate("GET", "/b", &grant(&[])).unwrap();
        assert_eq!((d.rule, d.anonymous), (None, false));
        assert_eq!(
            code(authenticated.evaluate_anonymous("GET", "/b")),
            ErrorCode::MissingCredentials
        );

        let allow = with("allow");
        assert!(allow.evaluate("GET", "/b", &grant(&[])).unwrap().anonymous);
        assert!(allow.evaluate_anonymous("GET", "/b").unwrap().anonymous);
        // A matched rule still applies.
        assert_eq!(
            code(allow.evaluate("GET", "/a", &grant(&[]))),
            ErrorCode::InsufficientScope
        );
        assert_eq!(
            code(allow.evaluate_anonymous("GET", "/a")),
            ErrorCode::MissingCredentials
        );
    }

    #[test]
    fn anonymous_evaluation() {
        let p = policy();
        let d = p.evaluate_anonymous("GET", "/health").unwrap();
        assert_eq!(d.rule.as_deref(), Some("health"));
        assert!(d.anonymous);
        assert_eq!(
            code(p.evaluate_anonymous("GET", "/v1/acme/web/datasets/sales")),
            ErrorCode::MissingCredentials
        );
        assert_eq!(
            code(p.evaluate_anonymous("GET", "/v1/me")),
            ErrorCode::MissingCredentials,
            "a rule requiring nothing still needs a credential"
        );
        assert_eq!(
            code(p.evaluate_anonymous("POST", "/health")),
            ErrorCode::AccessDenied
        );
        assert_eq!(
            code(p.evaluate_anonymous("GET", "/health/../admin/x")),
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn rest_captures_take_the_remainder() {
        let p = policy();
        let d = p.evaluate_anonymous("GET", "/static/css/site.css").unwrap();
        assert_eq!(d.captures["rest"], "css/site.css");
        assert_eq!(
            p.evaluate_anonymous("GET", "/static").unwrap().captures["rest"],
            ""
        );
        assert_eq!(
            p.evaluate_anonymous("GET", "/static/").unwrap().captures["rest"],
            ""
        );
        let d = p.evaluate_anonymous("GET", "/static/a%20b/c").unwrap();
        assert_eq!(d.captures["rest"], "a b/c");
        assert_eq!(
            code(p.evaluate("GET", "/admin/users", &grant(&["read"]))),
            ErrorCode::InsufficientScope
        );
        assert!(p
            .evaluate("PUT", "/admin/users/7", &grant(&["admin"]))
            .is_ok());
    }

    #[test]
    fn paths_are_normalized_only_in_safe_ways() {
        let p = policy();
        let g = grant(&["read:datasets"]);
        let dataset = |path: &str| p.evaluate("GET", path, &g).map(|d| d.dataset);
        let sales = Ok(Some("sales".to_string()));
        assert_eq!(dataset("/v1/acme/web/datasets/sales"), sales);
        assert_eq!(dataset("/v1/acme/web/datasets/sales/"), sales);
        assert_eq!(dataset("/v1/acme/web/datasets/sales?x=1"), sales);
        assert_eq!(
            dataset("/v1/acme/web/datasets/sales?next=/../../admin%2F"),
            sales
        );
        assert_eq!(dataset("/v1/acme/web/datasets/sa%6Ces"), sales);
        assert_eq!(dataset("/v1/acme/web/datasets/sa%6ces"), sales);
        let d = p
            .evaluate("GET", "/v1/%C3%A9t%C3%A9/web/datasets/sales", &g)
            .unwrap();
        assert_eq!(
            d.captures["org"], "été",
            "unicode is fine where no permission uses it"
        );
        assert_eq!(
            code(p.evaluate("GET", "/V1/acme/web/datasets/sales", &g)),
            ErrorCode::AccessDenied,
            "literals are case-sensitive"
        );
    }

    #[test]
    fn path_confusion_is_refused() {
        let p = policy();
        let g = grant(&["*"]);
        let long = format!("/v1/{}", "a".repeat(MAX_PATH_LEN));
        let many = "/a".repeat(MAX_PATH_LEN / 2 + 1);
        for (path, why) in [
            ("/v1/acme/web/datasets/../../admin/x", "dot segment"),
            ("/v1/acme/web/./datasets/sales", "dot segment"),
            ("/static/..", "dot segment"),
            ("/static/%2e%2e/admin", "dot segment"),
            ("/static/%2E%2E", "dot segment"),
            ("/static/.%2e", "dot segment"),
            ("/static/%2e", "dot segment"),
            ("/static/a%2Fb", "encoded slash"),
            ("/static/a%2fb", "encoded slash"),
            ("/static/a%5Cb", "encoded slash"),
            ("/static/a%5cb", "encoded slash"),
            ("/static/a\\b", "backslash"),
            ("/static\\..\\admin", "backslash"),
            ("/static/a%00", "encoded control"),
            ("/static/a%0d%0aX-Injected:%201", "encoded control"),
            ("/static/a%7F", "encoded control"),
            ("/static/a\0", "control, space or non-ASCII"),
            ("/static/a\tb", "control, space or non-ASCII"),
            ("/static/a b", "control, space or non-ASCII"),
            ("/static/é", "control, space or non-ASCII"),
            ("/static/\u{202e}", "control, space or non-ASCII"),
            ("/static/a\u{7f}", "control, space or non-ASCII"),
            ("/static//admin", "empty segment"),
            ("//static/a", "empty segment"),
            ("/static/a//", "empty segment"),
            ("/admin;x=1/users", "parameter delimiter"),
            ("/static/a#frag", "parameter delimiter"),
            ("/static/%", "percent-encoding"),
            ("/static/%4", "percent-encoding"),
            ("/static/%zz", "percent-encoding"),
            ("/static/%%32%65", "percent-encoding"),
            ("/static/%252e%252e", "encoded percent"),
            ("/static/%252F", "encoded percent"),
            ("/admin%3Bx=1/users", "encoded parameter"),
            ("/admin%3bx/users", "encoded parameter"),
            ("/static/a%3Fx", "encoded parameter"),
            ("/static/a%23x", "encoded parameter"),
            ("/static/%ff", "UTF-8"),
            ("/static/%C0%AE%C0%AE", "UTF-8"),
            ("", "must start with /"),
            ("static/a", "must start with /"),
            ("*", "must start with /"),
            ("http://evil/static/a", "must start with /"),
            ("?/static/a", "must start with /"),
            (long.as_str(), "too long"),
        ] {
            let e = p.evaluate("GET", path, &g).unwrap_err();
            assert_eq!(e.code(), ErrorCode::InvalidRequest, "{path:?}");
            assert!(e.message().contains(why), "{path:?}: {}", e.message());
            assert_eq!(
                code(p.evaluate_anonymous("GET", path)),
                ErrorCode::InvalidRequest
            );
        }
        // Thousands of segments within the length limit are only a linear scan.
        assert_eq!(
            code(p.evaluate("GET", &many, &g)),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            code(p.evaluate("GET", &many[..MAX_PATH_LEN], &g)),
            ErrorCode::AccessDenied
        );
    }

    #[test]
    fn captures_cannot_inject_into_permissions() {
        let p = policy();
        let g = grant(&["read:datasets.sales"]);
        for path in [
            "/v1/acme/web/datasets/sales.secret",
            "/v1/acme/web/datasets/sales%2Esecret",
            "/v1/acme/web/datasets/*",
            "/v1/acme/web/datasets/%2A",
            "/v1/acme/web/datasets/sales:x",
            "/v1/acme/web/datasets/sa%20les",
            "/v1/acme/web/datasets/%C3%A9",
            "/v1/acme/web/datasets/%7Bdataset%7D",
        ] {
            let e = p.evaluate("GET", path, &g).unwrap_err();
            assert_eq!(e.code(), ErrorCode::InvalidRequest, "{path}");
            assert_eq!(e.message(), "a path segment is not a valid resource name");
        }
        let long = format!("/v1/acme/web/datasets/{}", "a".repeat(65));
        assert_eq!(
            code(p.evaluate("GET", &long, &g)),
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn the_documented_example_loads() {
        let p = Policy::from_json(
            r#"{
              "unmatched": "deny",
              "roles": {
                "analyst": { "inherits": ["viewer"], "permissions": ["execute:queries"] }
              },
              "rules": [
                { "name": "health", "method": "GET", "path": "/health", "anonymous": true },
                { "name": "datasets-read", "method": "GET",
                  "path": "/v1/{org}/{project}/datasets/{dataset}",
                  "require": ["read:datasets.{dataset}"] },
                { "name": "files", "method": "GET", "path": "/v1/{org}/files/{rest*}",
                  "require": ["read:files"] }
              ]
            }"#,
        )
        .unwrap();
        let d = p
            .evaluate(
                "GET",
                "/v1/acme/files/a/b.txt",
                &Grant {
                    roles: strings(&["analyst"]),
                    permissions: strings(&["read:files"]),
                    ..Grant::default()
                },
            )
            .unwrap();
        assert_eq!(d.captures["rest"], "a/b.txt");
    }

    proptest! {
        #[test]
        fn arbitrary_permissions_never_panic(s in "\\PC{0,80}") {
            if let Ok(p) = s.parse::<Permission>() {
                prop_assert!(p.covers(&p));
                prop_assert!(p.overlaps(&p));
                prop_assert_eq!(p.to_string().parse::<Permission>().unwrap(), p);
            }
        }

        #[test]
        fn covering_implies_overlapping(
            a in "(\\*|read|write)(:(\\*|[ab](\\.[ab]){0,2}(\\.\\*)?))?",
            b in "(\\*|read|write)(:(\\*|[ab](\\.[ab]){0,2}(\\.\\*)?))?",
        ) {
            let (a, b) = (perm(&a), perm(&b));
            if a.covers(&b) {
                prop_assert!(a.overlaps(&b));
            }
            prop_assert_eq!(a.overlaps(&b), b.overlaps(&a));
        }

        #[test]
        fn arbitrary_requests_never_panic(method in "\\PC{0,10}", path in "\\PC{0,120}") {
            let p = policy();
            let _ = p.evaluate(&method, &path, &grant(&["*"]));
            let _ = p.evaluate_anonymous(&method, &path);
        }

        #[test]
        fn path_like_requests_never_panic(
            path in "(/([a-z.]{0,3}|%[0-9a-fA-F]{0,2}|\\{[a-z]*\\*?\\}|[\\\\;#?]|sales)){0,8}/?"
        ) {
            let p = policy();
            let _ = p.evaluate("GET", &path, &grant(&["*"]));
        }

        #[test]
        fn arbitrary_rule_configs_never_panic(
            name in "\\PC{0,12}", method in "\\PC{0,6}", path in "\\PC{0,40}", require in "\\PC{0,30}"
        ) {
            let config = PolicyConfig {
                default_roles: false,
                roles: BTreeMap::new(),
                rules: vec![RuleConfig { name, method, path, require: vec![require], anonymous: false }],
                unmatched: Unmatched::Deny,
            };
            if let Ok(p) = Policy::new(&config) {
                let _ = p.evaluate("GET", "/a/b/c", &grant(&["*"]));
            }
        }
    }
}
