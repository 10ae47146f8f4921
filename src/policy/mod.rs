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
//! # Scoped roles
//!
//! A credential's role may hold for one organisation or project only: `editor@project=web`
//! grants `editor` on routes whose `{project}` capture is `web`, and `admin@org=acme/project=web`
//! needs both. An unscoped role holds on every route.
//!
//! # Routes
//!
//! Rules are tried in order and the first whose method and path pattern match decides; see
//! [`RuleConfig`]. Paths are validated before matching because path confusion (dot segments,
//! encoded slashes, `;` parameters, control bytes) is a classic way around a proxy's rules.

mod permissions;
mod roles;
mod routes;

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

pub(crate) use self::permissions::is_name;
pub use self::permissions::{Grant, Permission};
pub use self::roles::{default_roles, RoleConfig, RoleSet};
pub use self::routes::{Captures, RouteMatch, RuleConfig};
use self::routes::{Rule, DATASET_CAPTURE};
use crate::error::{AuthError, ErrorCode};

/// Longest role, rule, capture or permission-segment name.
const MAX_NAME_LEN: usize = 64;

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
    #[serde(default, deserialize_with = "roles::unique_keys")]
    pub roles: BTreeMap<String, RoleConfig>,
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
    #[serde(default)]
    pub unmatched: Unmatched,
}

/// A rule's demands on the credential itself: the kinds it accepts (empty: any), the path
/// captures bound to claims, and the `typ` a JWT must have (empty: any).
#[derive(Debug, Clone, Copy)]
pub struct CredentialRules<'p> {
    pub rule: &'p str,
    pub kinds: &'p [String],
    pub bind: &'p [(String, String)],
    pub typ: &'p [String],
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
            let compiled = routes::compile_rule(rule).map_err(|why| {
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

    /// Every claim some rule binds a path capture to.
    pub fn bound_claims(&self) -> impl Iterator<Item = &str> {
        self.rules
            .iter()
            .flat_map(|r| r.bind.iter().map(|(_, claim)| claim.as_str()))
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
        self.evaluate_for(method, path, grant, |_, _| Ok(()))
    }

    /// [`Policy::evaluate`], with `fits` first judging the credential itself against the matched
    /// rule's [`CredentialRules`] and the path's captures: a credential for another tenant is
    /// refused as such, before its permissions are weighed.
    pub fn evaluate_for(
        &self,
        method: &str,
        path: &str,
        grant: &Grant,
        fits: impl FnOnce(CredentialRules<'_>, &Captures) -> Result<(), AuthError>,
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
            return Ok(routes::route_match(rule, captures));
        }
        fits(
            CredentialRules {
                rule: &rule.name,
                kinds: &rule.credentials,
                bind: &rule.bind,
                typ: &rule.typ,
            },
            &captures,
        )?;
        let required = rule.required(&captures)?;
        if !required.is_empty() {
            if grant.denied_unparsable {
                return Err(AuthError::with_message(
                    ErrorCode::AccessDenied,
                    "the credential has a deny entry that is not a valid permission",
                ));
            }
            for deny in &grant.denied {
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
        let from_roles = || {
            grant
                .roles
                .iter()
                .filter_map(|r| roles::applicable(r, &captures))
                .filter_map(|r| self.roles.permissions(r))
                .flatten()
        };
        let missing: Vec<&str> = required
            .iter()
            .filter(|(_, wanted)| {
                !grant.permissions.iter().any(|g| g.covers(wanted))
                    && !from_roles().any(|g| g.covers(wanted))
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
        Ok(routes::route_match(rule, captures))
    }

    /// Decides a request that carries no credential: allowed only by an anonymous rule (or an
    /// unmatched route under `"unmatched": "allow"`), otherwise `missing_credentials`.
    pub fn evaluate_anonymous(&self, method: &str, path: &str) -> Result<RouteMatch, AuthError> {
        match self.route(method, path)? {
            Some((rule, captures)) if rule.anonymous => Ok(routes::route_match(rule, captures)),
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
        routes::find(&self.rules, method, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn grant(permissions: &[&str]) -> Grant {
        Grant::from_scopes(permissions.iter().copied())
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

    pub(super) fn policy() -> Policy {
        Policy::from_json(POLICY).unwrap()
    }

    pub(super) fn code(r: Result<RouteMatch, AuthError>) -> ErrorCode {
        r.unwrap_err().code()
    }

    fn config_err(json: &str) -> String {
        let e = Policy::from_json(json).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidConfig, "{json}");
        e.message().to_string()
    }

    pub(super) fn rules_err(rules: &str) -> String {
        config_err(&format!(r#"{{"rules": [{rules}]}}"#))
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
            roles: strings(&["owner"]),
            ..Grant::from_scopes(["delete:datasets.sales"])
        };
        assert!(p.evaluate("DELETE", path, &mixed).is_ok());
    }

    #[test]
    fn explicit_deny_beats_every_allow() {
        let p = policy();
        let path = "/v1/acme/web/datasets/sales";
        let denied = |deny: &[&str]| Grant {
            roles: strings(&["admin"]),
            ..Grant::from_scopes(["*"]).with_denied(deny.iter().copied())
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
            datasets: strings(datasets),
            ..Grant::from_scopes(["*"])
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
                    ..Grant::from_scopes(["read:files"])
                },
            )
            .unwrap();
        assert_eq!(d.captures["rest"], "a/b.txt");
    }
}
