//! Roles: named permission sets with inheritance, flattened once at load.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::permissions::{parse_permission, Permission};
use super::routes::Captures;
use super::{invalid_config, is_label};
use crate::error::AuthError;

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

/// The role name a granted role stands for on a route with `captures`, or `None` when it is
/// scoped (`editor@project=web`) to other capture values, or its scope is malformed.
pub(super) fn applicable<'r>(role: &'r str, captures: &Captures) -> Option<&'r str> {
    let Some((name, scope)) = role.split_once('@') else {
        return Some(role);
    };
    let holds = scope.split('/').all(|pair| {
        pair.split_once('=')
            .is_some_and(|(capture, value)| captures.get(capture).is_some_and(|v| v == value))
    });
    holds.then_some(name)
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

/// A map that refuses duplicate keys: with last-wins, a second `"admin"` entry could silently
/// replace the first.
pub(super) fn unique_keys<'de, D>(deserializer: D) -> Result<BTreeMap<String, RoleConfig>, D::Error>
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn perm(s: &str) -> Permission {
        s.parse().unwrap()
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
}
