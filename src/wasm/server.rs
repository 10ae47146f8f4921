//! Exports for servers and edges (the full build only): confidential clients, JWT verification
//! and minting, API-key hashing and generation, webhook signatures.

use wasm_bindgen::prelude::*;

use serde::Serialize;

use super::browser::{endpoint, login_params, Client};
use super::{from_json, secs, throw, to_json, JsResult};
use crate::alg::Algorithm;
use crate::apikey::{self, Environment, KeyPrefix, KeyType};
use crate::error::{AuthError, ErrorCode};
use crate::jwks::JwkSet;
use crate::oauth::{client_assertion, login, parse_token_response, ClientAuth, OAuthClient};
use crate::remote_jwks::RemoteJwks;
use crate::schedule::Timing;
use crate::scoped_token;
use crate::sign::SigningKey;
use crate::signature_check::{self, Prepared, SignatureCheck, WEB_CRYPTO};
use crate::verify;
use crate::webhook::{self, WebhookVerifier};

/// A confidential client: `auth_method` is `client_secret_basic`, `client_secret_post` or
/// `private_key_jwt`, and `credential` the secret or the private JWK (JSON). A
/// `private_key_jwt` client carries one assertion per endpoint, minted at `now` with that
/// endpoint as `aud` and a minute's lifetime: build one per request.
/// `ApiKeyClient`'s retry decision ([`crate::session::retry_delay`]): seconds to wait before the
/// `attempt`-th retry of a call answered `status` (0: no answer), or `undefined` to return it.
#[wasm_bindgen(js_name = retryDelay)]
pub fn retry_delay(
    status: u16,
    retry_after: Option<String>,
    attempt: u32,
    max_retries: u32,
    now: f64,
    jitter: u32,
) -> Option<f64> {
    crate::session::retry_delay(
        status,
        retry_after.as_deref(),
        attempt,
        max_retries,
        secs(now),
        jitter,
    )
    .map(|d| d as f64)
}

#[wasm_bindgen(js_name = confidentialClient)]
#[allow(clippy::too_many_arguments)]
pub fn confidential_client(
    client_id: &str,
    token_url: &str,
    refresh_url: Option<String>,
    json_body: bool,
    auth_method: &str,
    credential: &str,
    now: f64,
    scope: Option<String>,
    resource: Option<String>,
    audience: Option<String>,
) -> JsResult<Client> {
    let refresh_url = refresh_url.as_deref().unwrap_or(token_url);
    let key = match auth_method {
        "private_key_jwt" => Some(SigningKey::from_jwk(&from_json(credential)?).map_err(throw)?),
        _ => None,
    };
    let client_for = |url: &str| -> JsResult<OAuthClient> {
        let client_secret = credential.to_owned();
        let auth = match (auth_method, &key) {
            ("client_secret_basic", _) => ClientAuth::ClientSecretBasic { client_secret },
            ("client_secret_post", _) => ClientAuth::ClientSecretPost { client_secret },
            ("private_key_jwt", Some(key)) => ClientAuth::PrivateKeyJwt {
                client_assertion: client_assertion::private_key_jwt(client_id, url, key, secs(now))
                    .map_err(throw)?,
            },
            _ => {
                return Err(throw(AuthError::with_message(
                    ErrorCode::InvalidConfig,
                    "clientAuth must be client_secret_basic, client_secret_post or private_key_jwt",
                )))
            }
        };
        OAuthClient::new(client_id, auth).map_err(throw)
    };
    Ok(Client {
        token: endpoint(token_url, &client_for(token_url)?, json_body)?,
        refresh: endpoint(refresh_url, &client_for(refresh_url)?, json_body)?,
        scope,
        resource,
        audience,
    })
}

/// `{"url","transaction"}` as `beginLogin` gives, for a confidential client, which may leave
/// PKCE out (`pkce` false) for a provider that refuses it; see
/// [`crate::oauth::AuthorizationRequest::without_pkce`].
#[wasm_bindgen(js_name = beginConfidentialLogin)]
#[allow(clippy::too_many_arguments)]
pub fn begin_confidential_login(
    authorization_endpoint: String,
    client_id: String,
    redirect_uri: String,
    scope: Option<String>,
    resource: Option<String>,
    audience: Option<String>,
    prompt: Option<String>,
    extra: Vec<String>,
    pkce: bool,
) -> JsResult<String> {
    let mut params = login_params(
        authorization_endpoint,
        client_id,
        redirect_uri,
        scope,
        resource,
        audience,
        prompt,
        extra,
    );
    params.without_pkce = !pkce;
    let (url, transaction) = login::begin(&params).map_err(throw)?;
    #[derive(Serialize)]
    struct Begun {
        url: String,
        transaction: login::LoginTransaction,
    }
    Ok(to_json(&Begun { url, transaction }))
}

#[wasm_bindgen]
impl Client {
    /// The RFC 6749 §6 refresh of `refresh_token` (`HttpRequest` JSON), for a server that keeps
    /// the tokens in its own session store.
    #[wasm_bindgen(js_name = refreshTokenRequest)]
    pub fn refresh_token_request(&self, refresh_token: &str) -> JsResult<String> {
        self.refresh
            .refresh_token(refresh_token, self.params())
            .map(|r| to_json(&r))
            .map_err(throw)
    }
}

/// A token endpoint's answer received at `now` (host clock) as the token set a server keeps:
/// `{"access_token","token_type","expires_at","refresh_token","refresh_expires_at","id_token",
/// "scope"}` (times unix seconds, absent ones null). With the sign-in's transaction (JSON),
/// the ID token's `nonce` is checked as for a browser sign-in.
#[wasm_bindgen(js_name = tokenSet)]
pub fn token_set(
    status: u16,
    body: &[u8],
    transaction_json: Option<String>,
    now: f64,
) -> JsResult<String> {
    #[derive(Serialize)]
    struct TokenSet<'a> {
        access_token: &'a str,
        token_type: &'static str,
        expires_at: Option<u64>,
        refresh_token: Option<&'a str>,
        refresh_expires_at: Option<u64>,
        id_token: Option<&'a str>,
        scope: Option<&'a str>,
    }
    let r = parse_token_response(status, body).map_err(throw)?;
    if let Some(json) = transaction_json {
        let transaction: login::LoginTransaction = from_json(&json)?;
        login::check_id_token_nonce(r.id_token.as_deref(), &transaction).map_err(throw)?;
    }
    let at = |s: Option<u64>| s.map(|s| secs(now).saturating_add(s));
    Ok(to_json(&TokenSet {
        access_token: &r.access_token,
        token_type: "Bearer",
        expires_at: at(r.expires_in),
        refresh_token: r.refresh_token.as_deref(),
        refresh_expires_at: at(r.refresh_expires_in),
        id_token: r.id_token.as_deref(),
        scope: r.scope.as_deref(),
    }))
}

/// Whether a signature goes to the host's WebCrypto: `native` (the host has it) and an
/// algorithm of [`WEB_CRYPTO`].
fn delegated(native: bool) -> impl Fn(Algorithm) -> bool {
    move |a| native && WEB_CRYPTO.contains(&a)
}

/// WebCrypto's `{import, verify}` parameters for a JWS algorithm (JSON), or `undefined` for one
/// the core verifies itself. The Worker's host reads them too.
#[wasm_bindgen(js_name = webCrypto)]
pub fn web_crypto_params(alg: &str) -> Option<String> {
    let alg = Algorithm::from_name(alg).ok()?;
    signature_check::web_crypto(alg).map(|v| v.to_string())
}

/// A verification part-way ([`Prepared`]): finished by the core (`claims`), or a signature for
/// the host's native crypto, handed back to the verifier's `complete` with the verdict.
#[wasm_bindgen]
pub struct VerifyStep {
    claims: Option<String>,
    check: Option<SignatureCheck>,
}

impl VerifyStep {
    fn new(prepared: Prepared) -> VerifyStep {
        match prepared {
            Prepared::Verified(v) => VerifyStep {
                claims: Some(to_json(v.claims())),
                check: None,
            },
            Prepared::Check(c) => VerifyStep {
                claims: None,
                check: Some(c),
            },
        }
    }

    fn into_check(self) -> JsResult<SignatureCheck> {
        self.check.ok_or_else(|| {
            throw(AuthError::with_message(
                ErrorCode::InvalidConfig,
                "this verification has no signature left to check",
            ))
        })
    }
}

#[wasm_bindgen]
impl VerifyStep {
    /// The verified claims as JSON, when the core verified the signature itself.
    pub fn claims(&self) -> Option<String> {
        self.claims.clone()
    }

    /// The JWS algorithm of the signature to verify.
    pub fn alg(&self) -> Option<String> {
        self.check.as_ref().map(|c| c.alg().name().to_owned())
    }

    /// Each candidate key's id, in the order to try (a host caches its native copy by it).
    #[wasm_bindgen(js_name = keyIds)]
    pub fn key_ids(&self) -> Vec<String> {
        self.check
            .iter()
            .flat_map(|c| c.keys().map(|(id, _)| id))
            .collect()
    }

    /// The `n`-th candidate as a public JWK (JSON), for the host to import.
    #[wasm_bindgen(js_name = keyJwk)]
    pub fn key_jwk(&self, n: usize) -> Option<String> {
        let (_, key) = self.check.as_ref()?.keys().nth(n)?;
        Some(serde_json::Value::Object(key.public_members()).to_string())
    }

    /// The JWS signing input.
    pub fn input(&self) -> Vec<u8> {
        self.check
            .as_ref()
            .map(|c| c.signing_input().to_vec())
            .unwrap_or_default()
    }

    pub fn signature(&self) -> Vec<u8> {
        self.check
            .as_ref()
            .map(|c| c.signature().to_vec())
            .unwrap_or_default()
    }
}

/// A key set and a policy; see [`verify::Verifier`].
#[wasm_bindgen]
pub struct Verifier {
    inner: verify::Verifier,
    native: bool,
}

#[wasm_bindgen]
impl Verifier {
    /// `jwks_json` is a JWKS document (keys the core cannot use are skipped, as from a remote
    /// JWKS); `policy_json` is a [`verify::Validation`] in its serde form; `native`: the host
    /// verifies RSA and ECDSA signatures with WebCrypto (see [`Prepared`]).
    #[wasm_bindgen(constructor)]
    pub fn new(jwks_json: &str, policy_json: &str, native: bool) -> JsResult<Verifier> {
        let keys = JwkSet::from_json_lenient(jwks_json).map_err(throw)?;
        let policy: verify::Validation = from_json(policy_json)?;
        Ok(Verifier {
            inner: verify::Verifier::new(keys, policy),
            native,
        })
    }

    /// Verifies at `now`, or stops at the signature when the host verifies it natively.
    pub fn prepare(&self, token: &str, now: f64) -> JsResult<VerifyStep> {
        self.inner
            .prepare(token, secs(now), delegated(self.native))
            .map(VerifyStep::new)
            .map_err(throw)
    }

    /// The claims (JSON) of a prepared token, given the host's verdict on its signature
    /// (`undefined`: the host could not verify it, the core does).
    pub fn complete(&self, step: VerifyStep, verdict: Option<bool>, now: f64) -> JsResult<String> {
        self.inner
            .complete(step.into_check()?, verdict, secs(now))
            .map(|v| to_json(v.claims()))
            .map_err(throw)
    }
}

/// A key set fetched by URL on the core's schedule; see [`RemoteJwks`]. The host fetches when
/// `begin` says so and hands the answer to `fetched`.
#[wasm_bindgen]
pub struct RemoteKeys {
    inner: RemoteJwks,
    timing: Timing,
    native: bool,
}

#[wasm_bindgen]
impl RemoteKeys {
    /// `policy_json` and `native` as for [`Verifier`]; the keys are fetched again every
    /// `refresh_secs` and used at most `max_stale_secs` longer while fetches fail.
    #[wasm_bindgen(constructor)]
    pub fn new(
        policy_json: &str,
        refresh_secs: f64,
        max_stale_secs: f64,
        timeout_ms: f64,
        native: bool,
    ) -> JsResult<RemoteKeys> {
        let policy: verify::Validation = from_json(policy_json)?;
        Ok(RemoteKeys {
            inner: RemoteJwks::new(policy),
            timing: Timing::from_secs(secs(refresh_secs), secs(timeout_ms), secs(max_stale_secs)),
            native,
        })
    }

    /// `true`: fetch now (and wait for it when `isEmpty()`).
    pub fn begin(&mut self, now_ms: f64) -> bool {
        self.inner.begin(secs(now_ms), &self.timing)
    }

    #[wasm_bindgen(js_name = isEmpty)]
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// The fetch's answer (status 0: none); a refused document keeps the previous keys.
    pub fn fetched(&mut self, status: u16, body: &[u8], now_ms: f64) {
        self.inner.fetched(status, body, secs(now_ms), &self.timing);
    }

    /// An unknown `kid`: `true` if the keys should be fetched now, at most once per
    /// `cooldown_secs`.
    #[wasm_bindgen(js_name = requestRefetch)]
    pub fn request_refetch(&mut self, now_ms: f64, cooldown_secs: f64) -> bool {
        let timing = Timing {
            refetch_cooldown_ms: secs(cooldown_secs).saturating_mul(1000),
            ..self.timing
        };
        self.inner.request_refetch(secs(now_ms), &timing)
    }

    /// As [`Verifier::prepare`]; `now` (unix seconds) for the claims, `now_ms` the clock.
    pub fn prepare(&self, token: &str, now: f64, now_ms: f64) -> JsResult<VerifyStep> {
        self.inner
            .prepare(
                token,
                secs(now),
                secs(now_ms),
                &self.timing,
                delegated(self.native),
            )
            .map(VerifyStep::new)
            .map_err(throw)
    }

    /// As [`Verifier::complete`].
    pub fn complete(&self, step: VerifyStep, verdict: Option<bool>, now: f64) -> JsResult<String> {
        self.inner
            .complete(step.into_check()?, verdict, secs(now))
            .map(|v| to_json(v.claims()))
            .map_err(throw)
    }
}

fn algorithm(name: &str) -> JsResult<Algorithm> {
    from_json(&serde_json::Value::from(name).to_string())
}

/// A new private JWK (JSON) for `alg`.
#[wasm_bindgen(js_name = generateSigningKey)]
pub fn generate_signing_key(alg: &str, kid: Option<String>) -> JsResult<String> {
    SigningKey::generate(algorithm(alg)?, kid)
        .map(|k| k.private_jwk().to_string())
        .map_err(throw)
}

/// The public JWK (JSON) of a private JWK. An HMAC key has no public half: its JWK is the secret,
/// which a caller publishing "the public JWK" in a JWKS would give away, so it is refused.
#[wasm_bindgen(js_name = publicJwk)]
pub fn public_jwk(private_jwk_json: &str) -> JsResult<String> {
    let jwk: serde_json::Value = from_json(private_jwk_json)?;
    let key = SigningKey::from_jwk(&jwk).map_err(throw)?;
    if key.alg().hmac_hash().is_some() {
        return Err(throw(AuthError::with_message(
            ErrorCode::InvalidKey,
            "an HMAC key has no public JWK: it is a shared secret, never published",
        )));
    }
    Ok(key.public_jwk().to_string())
}

/// A compact JWS over the claims (JSON object) with the private JWK.
#[wasm_bindgen(js_name = mintJwt)]
pub fn mint_jwt(
    private_jwk_json: &str,
    claims_json: &str,
    typ: Option<String>,
) -> JsResult<String> {
    let jwk: serde_json::Value = from_json(private_jwk_json)?;
    let claims: serde_json::Map<String, serde_json::Value> = from_json(claims_json)?;
    SigningKey::from_jwk(&jwk)
        .and_then(|k| k.mint(&claims, typ.as_deref(), &serde_json::Map::new()))
        .map_err(throw)
}

/// A scoped token within `grant_json` (`{"scopes","datasets","max_ttl","claims"}`) for `request_json`
/// (`{"issuer","audience","subject","scopes","datasets","ttl"}`), minted at `now`; see
/// [`scoped_token::mint_scoped_token`].
#[wasm_bindgen(js_name = mintScopedToken)]
pub fn mint_scoped_token(
    private_jwk_json: &str,
    grant_json: &str,
    request_json: &str,
    now: f64,
) -> JsResult<String> {
    #[derive(serde::Deserialize)]
    struct GrantArg {
        scopes: Vec<String>,
        #[serde(default)]
        datasets: Vec<String>,
        max_ttl: u64,
        #[serde(default)]
        claims: std::collections::BTreeMap<String, String>,
    }
    #[derive(serde::Deserialize)]
    struct RequestArg {
        issuer: String,
        audience: String,
        subject: String,
        scopes: Vec<String>,
        #[serde(default)]
        datasets: Vec<String>,
        ttl: Option<u64>,
    }
    let jwk: serde_json::Value = from_json(private_jwk_json)?;
    let g: GrantArg = from_json(grant_json)?;
    let r: RequestArg = from_json(request_json)?;
    let key = SigningKey::from_jwk(&jwk).map_err(throw)?;
    let grant = scoped_token::ScopedGrant::new(&g.scopes, &g.datasets, g.max_ttl)
        .and_then(|grant| grant.with_claims(g.claims.into_iter().collect()))
        .map_err(throw)?;
    let request = scoped_token::ScopedTokenRequest {
        issuer: &r.issuer,
        audience: &r.audience,
        subject: &r.subject,
        scopes: &r.scopes,
        datasets: &r.datasets,
        ttl: r.ttl,
    };
    scoped_token::mint_scoped_token(&key, &grant, &request, secs(now)).map_err(throw)
}

/// `sha256:<hex>`, the form a key store keeps.
#[wasm_bindgen(js_name = hashApiKey)]
pub fn hash_api_key(key: &str) -> String {
    apikey::hash_key(key)
}

/// `{"key","display_prefix"}` for a new `sk`/`pk`/`rk` key in `live` or `test`.
#[wasm_bindgen(js_name = generateApiKey)]
pub fn generate_api_key(key_type: &str, environment: &str) -> JsResult<String> {
    let key_type: KeyType = from_json(&serde_json::Value::from(key_type).to_string())?;
    let environment: Environment = from_json(&serde_json::Value::from(environment).to_string())?;
    let (key, parsed) =
        apikey::generate(&KeyPrefix::standard(key_type, environment)).map_err(throw)?;
    Ok(serde_json::json!({ "key": key, "display_prefix": parsed.display_prefix() }).to_string())
}

/// `sha256=<hex>` over the body, or over `"{timestamp}.{body}"` when a timestamp is given.
#[wasm_bindgen(js_name = signWebhook)]
pub fn sign_webhook(secret: &[u8], body: &[u8], timestamp: Option<f64>) -> JsResult<String> {
    match timestamp {
        Some(t) => webhook::sign_timestamped(secret, secs(t), body),
        None => webhook::sign(secret, body),
    }
    .map_err(throw)
}

/// Checks a signature header against the secret; with a timestamp, also that it lies within
/// `tolerance` seconds of `now`. See [`WebhookVerifier`].
#[wasm_bindgen(js_name = verifyWebhook)]
pub fn verify_webhook(
    signature_header: &str,
    body: &[u8],
    secret: &[u8],
    timestamp: Option<String>,
    tolerance: f64,
    now: f64,
) -> JsResult<()> {
    let verifier = WebhookVerifier::new(&[secret])
        .map_err(throw)?
        .with_tolerance(secs(tolerance));
    match timestamp {
        Some(ts) => verifier.verify_timestamped(signature_header, &ts, body, secs(now)),
        None => verifier.verify(signature_header, body),
    }
    .map_err(throw)
}
