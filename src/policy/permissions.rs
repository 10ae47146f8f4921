//! Permissions (`action:resource` patterns), how one covers or overlaps another, and what a
//! credential is granted.

use std::fmt;
use std::str::FromStr;

use super::{invalid_config, MAX_NAME_LEN};
use crate::error::AuthError;

const MAX_PERMISSION_LEN: usize = 256;

/// A parsed permission pattern; see [`crate::policy`] for the covering rules.
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

pub(super) fn parse_permission(s: &str) -> Result<Permission, &'static str> {
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
pub(crate) fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// What a credential brings to a decision, parsed once when the credential is read rather than
/// on every request. For JWTs `permissions` are the scopes and `roles` a roles claim; for API
/// keys see `apikey::KeyRecord::grant`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grant {
    /// Granted permissions.
    pub permissions: Vec<Permission>,
    /// Deny entries; they beat every allow.
    pub denied: Vec<Permission>,
    /// A deny entry did not parse. What it meant to deny is unknown, so the grant refuses every
    /// rule that requires a permission (fail closed).
    pub denied_unparsable: bool,
    /// Role names; roles the policy does not define grant nothing.
    pub roles: Vec<String>,
    /// Datasets the credential may touch; empty means all.
    pub datasets: Vec<String>,
}

impl Grant {
    /// A grant of `scopes` (JWT or introspection scopes, API-key permissions). Entries that are
    /// not permissions grant nothing.
    pub fn from_scopes<'a>(scopes: impl IntoIterator<Item = &'a str>) -> Grant {
        Grant {
            permissions: scopes
                .into_iter()
                .filter_map(|s| parse_permission(s).ok())
                .collect(),
            ..Grant::default()
        }
    }

    /// Adds deny entries; one that does not parse sets [`Grant::denied_unparsable`].
    pub fn with_denied<'a>(mut self, entries: impl IntoIterator<Item = &'a str>) -> Grant {
        for entry in entries {
            match parse_permission(entry) {
                Ok(permission) => self.denied.push(permission),
                Err(_) => self.denied_unparsable = true,
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use proptest::prelude::*;

    fn perm(s: &str) -> Permission {
        s.parse().unwrap()
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
    fn grants_parse_their_entries_once() {
        let grant = Grant::from_scopes(["read", "junk::", "write:datasets.*"]);
        assert_eq!(
            grant.permissions,
            [perm("read:*"), perm("write:datasets.*")],
            "an entry that is not a permission grants nothing"
        );
        assert!(!grant.denied_unparsable);
        let denied = grant.with_denied(["delete:*", "read:"]);
        assert_eq!(denied.denied, [perm("delete:*")]);
        assert!(denied.denied_unparsable, "an unreadable deny is remembered");
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
    }
}
