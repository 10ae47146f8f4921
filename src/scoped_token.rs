//! Scoped tokens minted by a backend for its browser (GoPie's `createPublicToken`): short-lived
//! JWTs whose scopes and datasets are a subset of what the backend itself is granted. The edge
//! then enforces them as for any provider: scopes against the route's permissions, the
//! `datasets` claim against the route's `{dataset}`.

use base64ct::{Base64UrlUnpadded, Encoding};
use serde_json::{Map, Value};

use crate::error::{AuthError, ErrorCode};
use crate::policy::{is_name, Permission};
use crate::sign::SigningKey;

/// The longest lifetime a grant may allow: these tokens sit in browsers and are not revocable.
pub const MAX_TTL: u64 = 24 * 3600;

/// What the minting backend may hand out.
#[derive(Debug, Clone)]
pub struct ScopedGrant {
    scopes: Vec<Permission>,
    /// Empty: any dataset, and tokens without a `datasets` claim (valid for all).
    datasets: Vec<String>,
    max_ttl: u64,
    /// Set on every token, never chosen per token (the backend's organisation, for one).
    claims: Vec<(String, String)>,
}

/// Claims a grant may not fix: the ones minting sets, and what the edge reads as a grant.
const RESERVED: [&str; 12] = [
    "iss", "aud", "sub", "jti", "iat", "exp", "nbf", "scope", "scp", "datasets", "roles", "cnf",
];

impl ScopedGrant {
    /// Scopes are permissions (`read:datasets`, `execute:queries.*`); `max_ttl` in seconds, at
    /// most [`MAX_TTL`].
    pub fn new(
        scopes: &[String],
        datasets: &[String],
        max_ttl: u64,
    ) -> Result<ScopedGrant, AuthError> {
        let config = |msg| AuthError::with_message(ErrorCode::InvalidConfig, msg);
        let scopes = scopes
            .iter()
            .map(|s| s.parse::<Permission>())
            .collect::<Result<Vec<_>, _>>()?;
        if scopes.is_empty() {
            return Err(config("a grant needs at least one scope"));
        }
        if !datasets.iter().all(|d| is_name(d)) {
            return Err(config("a granted dataset is not a valid name"));
        }
        if max_ttl == 0 || max_ttl > MAX_TTL {
            return Err(config("a grant's maxTtl must be between 1 s and 24 h"));
        }
        Ok(ScopedGrant {
            scopes,
            datasets: datasets.to_vec(),
            max_ttl,
            claims: Vec::new(),
        })
    }

    /// Adds claims every token carries (`org` for GoPie's `/v1/{org}/…` binding). Names the
    /// minting sets or the edge reads as permissions are refused.
    pub fn with_claims(mut self, claims: Vec<(String, String)>) -> Result<ScopedGrant, AuthError> {
        if claims
            .iter()
            .any(|(name, _)| name.is_empty() || RESERVED.contains(&name.as_str()))
        {
            return Err(AuthError::with_message(
                ErrorCode::InvalidConfig,
                "a grant's fixed claims may not name a registered or permission claim",
            ));
        }
        self.claims = claims;
        Ok(self)
    }
}

/// One token to mint: for whom, which scopes and datasets, how long.
#[derive(Debug, Clone, Default)]
pub struct ScopedTokenRequest<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
    pub subject: &'a str,
    pub scopes: &'a [String],
    pub datasets: &'a [String],
    /// Seconds; `None` is the grant's `max_ttl`, a longer one is capped to it.
    pub ttl: Option<u64>,
}

/// Mints the token at `now` (unix seconds): `iss`, `aud`, `sub`, a fresh `jti`, `iat`, `exp`,
/// `scope` (space-separated) and, when datasets are asked for, `datasets`; header `typ`
/// `at+jwt` (RFC 9068). A scope no granted scope covers, a dataset outside the grant's, or no
/// datasets while the grant limits them: [`ErrorCode::GrantExceeded`], nothing minted.
pub fn mint_scoped_token(
    key: &SigningKey,
    grant: &ScopedGrant,
    request: &ScopedTokenRequest<'_>,
    now: u64,
) -> Result<String, AuthError> {
    let exceeded = |msg| AuthError::with_message(ErrorCode::GrantExceeded, msg);
    let bad = |msg| AuthError::with_message(ErrorCode::InvalidRequest, msg);
    if request.issuer.is_empty() || request.audience.is_empty() || request.subject.is_empty() {
        return Err(bad(
            "a scoped token needs an issuer, an audience and a subject",
        ));
    }
    if request.scopes.is_empty() {
        return Err(bad("a scoped token needs at least one scope"));
    }
    for scope in request.scopes {
        let wanted: Permission = scope
            .parse()
            .map_err(|_| bad("a requested scope is not a permission"))?;
        if !grant.scopes.iter().any(|g| g.covers(&wanted)) {
            return Err(exceeded("a requested scope is not covered by the grant"));
        }
    }
    if !request.datasets.iter().all(|d| is_name(d)) {
        return Err(bad("a requested dataset is not a valid name"));
    }
    if !grant.datasets.is_empty() {
        // No `datasets` claim means every dataset at the edge: not within a limited grant.
        if request.datasets.is_empty() {
            return Err(exceeded(
                "the grant limits datasets: name the token's datasets",
            ));
        }
        if !request.datasets.iter().all(|d| grant.datasets.contains(d)) {
            return Err(exceeded("a requested dataset is outside the grant"));
        }
    }
    let ttl = request.ttl.unwrap_or(grant.max_ttl).min(grant.max_ttl);
    if ttl == 0 {
        return Err(bad("a scoped token's lifetime must be at least 1 s"));
    }
    let mut claims: Map<String, Value> = grant
        .claims
        .iter()
        .map(|(name, value)| (name.clone(), value.as_str().into()))
        .collect();
    claims.insert("iss".into(), request.issuer.into());
    claims.insert("aud".into(), request.audience.into());
    claims.insert("sub".into(), request.subject.into());
    claims.insert(
        "jti".into(),
        Base64UrlUnpadded::encode_string(&crate::random::bytes::<16>()?).into(),
    );
    claims.insert("iat".into(), now.into());
    claims.insert("exp".into(), now.saturating_add(ttl).into());
    claims.insert("scope".into(), request.scopes.join(" ").into());
    if !request.datasets.is_empty() {
        claims.insert("datasets".into(), Value::from(request.datasets.to_vec()));
    }
    key.mint(&claims, Some("at+jwt"), &Map::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alg::Algorithm;
    use crate::oauth::unverified;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn grant(datasets: &[&str]) -> ScopedGrant {
        ScopedGrant::new(
            &strings(&["read:datasets", "execute:queries.readonly"]),
            &strings(datasets),
            3600,
        )
        .unwrap()
    }

    fn mint(
        grant: &ScopedGrant,
        scopes: &[&str],
        datasets: &[&str],
        ttl: Option<u64>,
    ) -> Result<Value, AuthError> {
        let key = SigningKey::generate(Algorithm::ES256, Some("k1".into())).unwrap();
        let (scopes, datasets) = (strings(scopes), strings(datasets));
        let request = ScopedTokenRequest {
            issuer: "https://app.example",
            audience: "https://api.gopie.app",
            subject: "user_1",
            scopes: &scopes,
            datasets: &datasets,
            ttl,
        };
        let token = mint_scoped_token(&key, grant, &request, 1_700_000_000)?;
        Ok(unverified::claims(&token).unwrap())
    }

    #[test]
    fn a_subset_is_minted_with_every_registered_claim() {
        let g = grant(&["public_data", "sales"])
            .with_claims(vec![("org".into(), "acme".into())])
            .unwrap();
        let c = mint(
            &g,
            &["read:datasets.public_data"],
            &["public_data"],
            Some(600),
        )
        .unwrap();
        assert_eq!(c["org"], "acme");
        assert_eq!(c["iss"], "https://app.example");
        assert_eq!(c["aud"], "https://api.gopie.app");
        assert_eq!(c["sub"], "user_1");
        assert_eq!(c["scope"], "read:datasets.public_data");
        assert_eq!(c["datasets"], serde_json::json!(["public_data"]));
        assert_eq!(c["iat"], 1_700_000_000);
        assert_eq!(c["exp"], 1_700_000_600);
        assert_eq!(c["jti"].as_str().unwrap().len(), 22);
        // A grant's parent covers its children; `*` children too.
        assert!(mint(
            &grant(&[]),
            &["read:datasets", "execute:queries.readonly"],
            &[],
            None
        )
        .is_ok());
    }

    #[test]
    fn the_lifetime_is_capped_by_the_grant() {
        let c = mint(&grant(&[]), &["read:datasets"], &[], Some(86_400)).unwrap();
        assert_eq!(c["exp"], 1_700_000_000 + 3600);
        let c = mint(&grant(&[]), &["read:datasets"], &[], None).unwrap();
        assert_eq!(c["exp"], 1_700_000_000 + 3600);
        assert_eq!(
            mint(&grant(&[]), &["read:datasets"], &[], Some(0))
                .unwrap_err()
                .code(),
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn anything_beyond_the_grant_is_refused() {
        let g = grant(&["public_data"]);
        for (scopes, datasets) in [
            (&["write:datasets.public_data"][..], &["public_data"][..]),
            (&["read:data"], &["public_data"]),
            (&["execute:queries"], &["public_data"]),
            (&["*"], &["public_data"]),
            (&["read:datasets.public_data"], &["sales"]),
            (&["read:datasets.public_data"], &["public_data", "sales"]),
            (&["read:datasets.public_data"], &[]),
        ] {
            let e = mint(&g, scopes, datasets, None).unwrap_err();
            assert_eq!(
                e.code(),
                ErrorCode::GrantExceeded,
                "{scopes:?} {datasets:?}"
            );
            assert_eq!(e.status(), 403);
        }
        for (scopes, datasets) in [
            (&[][..], &[][..]),
            (&["read:"], &[]),
            (&["read:datasets"], &["a b"]),
        ] {
            let e = mint(&grant(&[]), scopes, datasets, None).unwrap_err();
            assert_eq!(
                e.code(),
                ErrorCode::InvalidRequest,
                "{scopes:?} {datasets:?}"
            );
        }
    }

    #[test]
    fn grants_are_checked_when_made() {
        let s = strings(&["read:datasets"]);
        assert!(ScopedGrant::new(&[], &[], 60).is_err());
        assert!(ScopedGrant::new(&strings(&["read:"]), &[], 60).is_err());
        assert!(ScopedGrant::new(&s, &strings(&["a/b"]), 60).is_err());
        assert!(ScopedGrant::new(&s, &[], 0).is_err());
        assert!(ScopedGrant::new(&s, &[], MAX_TTL + 1).is_err());
        assert!(ScopedGrant::new(&s, &[], MAX_TTL).is_ok());
        for name in ["scope", "datasets", "exp", "sub", ""] {
            let fixed = vec![(name.to_string(), "x".to_string())];
            assert!(
                ScopedGrant::new(&s, &[], 60)
                    .unwrap()
                    .with_claims(fixed)
                    .is_err(),
                "{name}"
            );
        }
    }
}
