//! Exports for browsers and mobile webviews (and, through the full build, servers): sign-in,
//! the session lifecycle, discovery, key parsing and redaction. Nothing here verifies a
//! signature, so the browser build carries no verification code.

use serde::Serialize;
use wasm_bindgen::prelude::*;

use super::{from_json, secs, throw, to_json, JsResult};
use crate::apikey;
use crate::audit;
use crate::error::{AuthError, ErrorCode};
use crate::oauth::{
    self, credential_login, end_session, login, user, BodyFormat, ClientAuth, OAuthClient,
    RefreshStyle, TokenEndpoint, TokenParams,
};
use crate::session::{self, ClockOffset, NextStep, RecoveryStep, StoredTokens};

/// `{"url","transaction"}`; see [`login::begin`]. Positional arguments rather than a JSON
/// object keep a reader for [`login::LoginParams`] out of the browser build; `extra` is a flat
/// `[name, value, …]` list.
#[wasm_bindgen(js_name = beginLogin)]
#[allow(clippy::too_many_arguments)]
pub fn begin_login(
    authorization_endpoint: String,
    client_id: String,
    redirect_uri: String,
    scope: Option<String>,
    resource: Option<String>,
    audience: Option<String>,
    prompt: Option<String>,
    extra: Vec<String>,
) -> JsResult<String> {
    let params = login_params(
        authorization_endpoint,
        client_id,
        redirect_uri,
        scope,
        resource,
        audience,
        prompt,
        extra,
    );
    let (url, transaction) = login::begin(&params).map_err(throw)?;
    #[derive(Serialize)]
    struct Begun {
        url: String,
        transaction: login::LoginTransaction,
    }
    Ok(to_json(&Begun { url, transaction }))
}

/// `{"request","transaction"}`: [`begin_login`] for a pushed authorization request (RFC 9126)
/// by a public client; `request` is the `HttpRequest` to `par_endpoint`. Its answer goes to
/// [`pushed_authorization_url`]. See [`login::begin_pushed`].
#[wasm_bindgen(js_name = beginPushedLogin)]
#[allow(clippy::too_many_arguments)]
pub fn begin_pushed_login(
    par_endpoint: String,
    authorization_endpoint: String,
    client_id: String,
    redirect_uri: String,
    scope: Option<String>,
    resource: Option<String>,
    audience: Option<String>,
    prompt: Option<String>,
    extra: Vec<String>,
) -> JsResult<String> {
    let par = OAuthClient::new(client_id.as_str(), ClientAuth::None)
        .and_then(|client| oauth::ParEndpoint::new(par_endpoint, client))
        .map_err(throw)?;
    let params = login_params(
        authorization_endpoint,
        client_id,
        redirect_uri,
        scope,
        resource,
        audience,
        prompt,
        extra,
    );
    let (request, transaction) = login::begin_pushed(&params, &par).map_err(throw)?;
    #[derive(Serialize)]
    struct Begun {
        request: oauth::HttpRequest,
        transaction: login::LoginTransaction,
    }
    Ok(to_json(&Begun {
        request,
        transaction,
    }))
}

/// The URL to send the user agent to (RFC 9126 §4) from the PAR endpoint's answer, or the
/// provider's refusal; see [`oauth::parse_par_response`].
#[wasm_bindgen(js_name = pushedAuthorizationUrl)]
pub fn pushed_authorization_url(
    status: u16,
    body: &[u8],
    authorization_endpoint: &str,
    client_id: &str,
) -> JsResult<String> {
    oauth::parse_par_response(status, body)
        .and_then(|pushed| pushed.authorization_url(authorization_endpoint, client_id))
        .map_err(throw)
}

#[allow(clippy::too_many_arguments)]
pub(super) fn login_params(
    authorization_endpoint: String,
    client_id: String,
    redirect_uri: String,
    scope: Option<String>,
    resource: Option<String>,
    audience: Option<String>,
    prompt: Option<String>,
    extra: Vec<String>,
) -> login::LoginParams {
    login::LoginParams {
        authorization_endpoint,
        client_id,
        redirect_uri,
        scope,
        resource,
        audience,
        prompt,
        extra: extra
            .chunks_exact(2)
            .map(|pair| (pair[0].clone(), pair[1].clone()))
            .collect(),
        without_pkce: false,
    }
}

/// A registered client and the token endpoint(s) it talks to. Built here for a public client;
/// the full build adds confidential ones (`confidentialClient`), so the browser build has no
/// way to send a client secret or private key.
#[wasm_bindgen]
pub struct Client {
    pub(super) token: TokenEndpoint,
    pub(super) refresh: TokenEndpoint,
    pub(super) scope: Option<String>,
    pub(super) resource: Option<String>,
    pub(super) audience: Option<String>,
}

#[wasm_bindgen]
impl Client {
    /// A public client. `refresh_url` overrides the token endpoint for refreshes (platforms with
    /// their own `/auth/refresh`); `refresh_token_only` sends such a refresh `refresh_token`
    /// alone ([`RefreshStyle::TokenOnly`]).
    #[wasm_bindgen(constructor)]
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        client_id: &str,
        token_url: &str,
        refresh_url: Option<String>,
        json_body: bool,
        refresh_token_only: bool,
        scope: Option<String>,
        resource: Option<String>,
        audience: Option<String>,
    ) -> JsResult<Client> {
        let client = OAuthClient::new(client_id, ClientAuth::None).map_err(throw)?;
        let style = if refresh_token_only {
            RefreshStyle::TokenOnly
        } else {
            RefreshStyle::Grant
        };
        let token = endpoint(token_url, &client, json_body)?;
        let refresh = endpoint(
            refresh_url.as_deref().unwrap_or(token_url),
            &client,
            json_body,
        )?
        .with_refresh_style(style);
        Ok(Client {
            token,
            refresh,
            scope,
            resource,
            audience,
        })
    }

    /// The legacy RFC 6749 §4.3 password grant to the token endpoint (`HttpRequest` JSON); see
    /// [`credential_login::password_grant`].
    #[wasm_bindgen(js_name = passwordGrantRequest)]
    pub fn password_grant_request(&self, username: &str, password: &str) -> JsResult<String> {
        credential_login::password_grant(&self.token, username, password, self.params())
            .map(|r| to_json(&r))
            .map_err(throw)
    }

    /// The code exchange (an `HttpRequest` JSON) for the redirect; see [`login::complete`].
    #[wasm_bindgen(js_name = completeLogin)]
    pub fn complete_login(
        &self,
        callback_url: &str,
        transaction_json: Option<String>,
        issuer: Option<String>,
    ) -> JsResult<String> {
        let transaction: Option<login::LoginTransaction> = match transaction_json {
            Some(json) => Some(from_json(&json)?),
            None => None,
        };
        login::complete(
            callback_url,
            transaction.as_ref(),
            &self.token,
            issuer.as_deref(),
        )
        .map(|r| to_json(&r))
        .map_err(throw)
    }

    /// The client-credentials request (RFC 6749 §4.4) as `HttpRequest` JSON.
    #[wasm_bindgen(js_name = clientCredentialsRequest)]
    pub fn client_credentials_request(&self) -> JsResult<String> {
        self.token
            .client_credentials(self.params())
            .map(|r| to_json(&r))
            .map_err(throw)
    }

    pub(super) fn params(&self) -> TokenParams<'_> {
        TokenParams {
            scope: self.scope.as_deref(),
            resource: self.resource.as_deref(),
            audience: self.audience.as_deref(),
        }
    }
}

/// A token endpoint for `client` with the body format asked for.
pub(super) fn endpoint(
    url: &str,
    client: &OAuthClient,
    json_body: bool,
) -> JsResult<TokenEndpoint> {
    TokenEndpoint::new(url, client.clone())
        .map(|e| e.with_body_format(body_format(json_body)))
        .map_err(throw)
}

fn body_format(json: bool) -> BodyFormat {
    if json {
        BodyFormat::Json
    } else {
        BodyFormat::Form
    }
}

/// A platform's own username-and-password sign-in (`HttpRequest` JSON): exactly the two
/// fields, named as the platform says; see [`credential_login::CredentialEndpoint`].
#[wasm_bindgen(js_name = credentialLoginRequest)]
pub fn credential_login_request(
    url: &str,
    json_body: bool,
    username_field: &str,
    password_field: &str,
    username: &str,
    password: &str,
) -> JsResult<String> {
    credential_login::CredentialEndpoint::new(url, body_format(json_body))
        .and_then(|e| e.with_fields(username_field, password_field))
        .and_then(|e| e.request(username, password))
        .map(|r| to_json(&r))
        .map_err(throw)
}

/// One signed-in session: [`session::Session`] with JS-number times.
#[wasm_bindgen]
pub struct Session {
    inner: session::Session,
}

#[wasm_bindgen]
impl Session {
    /// The session the code exchange's answer starts; see [`login::session_from_exchange`].
    #[wasm_bindgen(js_name = fromExchange)]
    pub fn from_exchange(
        status: u16,
        body: &[u8],
        transaction_json: &str,
        now: f64,
        clock_offset: f64,
    ) -> JsResult<Session> {
        let transaction: login::LoginTransaction = from_json(transaction_json)?;
        let clock = ClockOffset::from_seconds(clock_offset as i64);
        login::session_from_exchange(status, body, &transaction, secs(now), clock)
            .map(|inner| Session { inner })
            .map_err(throw)
    }

    /// The session a username-and-password sign-in starts; a refusal of the credentials
    /// throws `invalid_credentials`. See [`credential_login::session_from_response`].
    #[wasm_bindgen(js_name = fromCredentialLogin)]
    pub fn from_credential_login(
        status: u16,
        body: &[u8],
        now: f64,
        clock_offset: f64,
    ) -> JsResult<Session> {
        let clock = ClockOffset::from_seconds(clock_offset as i64);
        credential_login::session_from_response(status, body, secs(now), clock)
            .map(|inner| Session { inner })
            .map_err(throw)
    }

    /// A session from any token response (client credentials, for one).
    #[wasm_bindgen(js_name = fromTokenResponse)]
    pub fn from_token_response(
        status: u16,
        body: &[u8],
        now: f64,
        clock_offset: f64,
    ) -> JsResult<Session> {
        let response = oauth::parse_token_response(status, body).map_err(throw)?;
        let clock = ClockOffset::from_seconds(clock_offset as i64);
        Ok(Session {
            inner: session::Session::from_response(&response, secs(now), clock),
        })
    }

    /// The session a backend token source's answer starts (`{"token","expires_in"?}`); see
    /// [`oauth::token_source::session_from_token_source`].
    #[wasm_bindgen(js_name = fromTokenSource)]
    pub fn from_token_source(
        status: u16,
        body: &[u8],
        now: f64,
        clock_offset: f64,
    ) -> JsResult<Session> {
        let clock = ClockOffset::from_seconds(clock_offset as i64);
        oauth::token_source::session_from_token_source(status, body, secs(now), clock)
            .map(|inner| Session { inner })
            .map_err(throw)
    }

    /// A session from tokens kept in storage or received from another tab.
    pub fn restore(tokens_json: &str, clock_offset: f64) -> JsResult<Session> {
        let tokens: StoredTokens = from_json(tokens_json)?;
        let clock = ClockOffset::from_seconds(clock_offset as i64);
        Ok(Session {
            inner: session::Session::new(tokens, clock),
        })
    }

    /// `{"action":"use"|"refresh"|"wait"|"expired","retry_at"?}`; see [`session::Session::decide`].
    pub fn decide(&self, now: f64) -> String {
        match self.inner.decide(secs(now)) {
            NextStep::Use => r#"{"action":"use"}"#.to_owned(),
            NextStep::RefreshFirst => r#"{"action":"refresh"}"#.to_owned(),
            NextStep::Expired => r#"{"action":"expired"}"#.to_owned(),
            NextStep::Wait { retry_at } => {
                #[derive(Serialize)]
                struct Wait {
                    action: &'static str,
                    retry_at: u64,
                }
                to_json(&Wait {
                    action: "wait",
                    retry_at,
                })
            }
        }
    }

    #[wasm_bindgen(js_name = renewalDue)]
    pub fn renewal_due(&self, now: f64) -> bool {
        self.inner.renewal_due(secs(now))
    }

    #[wasm_bindgen(js_name = canRefresh)]
    pub fn can_refresh(&self, now: f64) -> bool {
        self.inner.can_refresh(secs(now))
    }

    /// The refresh request (`HttpRequest` JSON) to the client's refresh endpoint.
    #[wasm_bindgen(js_name = refreshRequest)]
    pub fn refresh_request(&self, client: &Client, now: f64) -> JsResult<String> {
        self.inner
            .refresh_request(&client.refresh, client.params(), secs(now))
            .map(|r| to_json(&r))
            .map_err(throw)
    }

    /// See [`session::Session::on_refresh_response`]; throws with `retry_after` for a retry.
    #[wasm_bindgen(js_name = onRefreshResponse)]
    pub fn on_refresh_response(
        &mut self,
        status: u16,
        body: &[u8],
        now: f64,
        jitter: u32,
    ) -> JsResult<()> {
        self.inner
            .on_refresh_response(status, body, secs(now), jitter)
            .map_err(throw)
    }

    /// Seconds to wait before the next refresh attempt.
    #[wasm_bindgen(js_name = onRefreshNetworkFailure)]
    pub fn on_refresh_network_failure(&mut self, now: f64, jitter: u32) -> f64 {
        self.inner.on_refresh_network_failure(secs(now), jitter) as f64
    }

    /// Learns the server's clock from a `Date` header; an unparsable one is ignored.
    #[wasm_bindgen(js_name = observeDate)]
    pub fn observe_date(&mut self, date: &str, now: f64) {
        let _ = self.inner.observe_date_header(date, secs(now));
    }

    #[wasm_bindgen(js_name = accessToken)]
    pub fn access_token(&self) -> String {
        self.inner.access_token().to_owned()
    }

    #[wasm_bindgen(js_name = accessExpiresAt)]
    pub fn access_expires_at(&self) -> Option<f64> {
        self.inner.tokens().access_expires_at.map(|t| t as f64)
    }

    /// When the refresh token expires (server clock), when the server said.
    #[wasm_bindgen(js_name = refreshExpiresAt)]
    pub fn refresh_expires_at(&self) -> Option<f64> {
        self.inner.tokens().refresh_expires_at.map(|t| t as f64)
    }

    #[wasm_bindgen(js_name = clockOffset)]
    pub fn clock_offset(&self) -> f64 {
        self.inner.clock_offset().seconds() as f64
    }

    /// The tokens as JSON, for storage and other tabs.
    pub fn tokens(&self) -> String {
        to_json(self.inner.tokens())
    }

    /// The tokens without the access token, for storage that must not hold it.
    #[wasm_bindgen(js_name = tokensWithoutAccess)]
    pub fn tokens_without_access(&self) -> String {
        to_json(&self.inner.tokens().without_access_token())
    }

    pub fn end(&mut self) {
        self.inner.end();
    }

    /// The RFC 7009 request (`HttpRequest` JSON) that revokes this session's refresh token at
    /// sign-out, for a public client; `undefined` without a refresh token.
    #[wasm_bindgen(js_name = revocationRequest)]
    pub fn revocation_request(&self, client_id: &str, url: &str) -> JsResult<Option<String>> {
        let Some(token) = self.inner.tokens().refresh_token.as_deref() else {
            return Ok(None);
        };
        OAuthClient::new(client_id, ClientAuth::None)
            .and_then(|client| oauth::RevocationEndpoint::new(url, client))
            .and_then(|e| e.request(token, Some(oauth::TokenTypeHint::RefreshToken)))
            .map(|r| Some(to_json(&r)))
            .map_err(throw)
    }

    /// The ID token's claims (JSON text), `undefined` without one; see
    /// [`user::id_token_claims`].
    #[wasm_bindgen(js_name = idTokenClaims)]
    pub fn id_token_claims(&self) -> JsResult<Option<String>> {
        match self.inner.tokens().id_token.as_deref() {
            Some(t) => user::id_token_claims(t)
                .map(|(claims, _)| Some(claims))
                .map_err(throw),
            None => Ok(None),
        }
    }

    /// The UserInfo request (`HttpRequest` JSON) with this session's access token.
    #[wasm_bindgen(js_name = userinfoRequest)]
    pub fn userinfo_request(&self, url: &str) -> JsResult<String> {
        user::userinfo_request(url, self.inner.access_token())
            .map(|r| to_json(&r))
            .map_err(throw)
    }

    /// The UserInfo claims (JSON text), checked against the ID token's `sub`; see
    /// [`user::parse_userinfo`]. Without an ID token there is no `sub` to check against.
    #[wasm_bindgen(js_name = userinfoClaims)]
    pub fn userinfo_claims(&self, status: u16, body: &[u8]) -> JsResult<String> {
        let id_token = self.inner.tokens().id_token.as_deref().ok_or_else(|| {
            throw(AuthError::with_message(
                ErrorCode::InvalidConfig,
                "userinfo needs an ID token: sign in with the openid scope",
            ))
        })?;
        user::id_token_claims(id_token)
            .and_then(|(_, sub)| user::parse_userinfo(status, body, &sub))
            .map_err(throw)
    }

    /// The ID token, the `id_token_hint` of RP-initiated logout; `undefined` without one.
    #[wasm_bindgen(js_name = idToken)]
    pub fn id_token(&self) -> Option<String> {
        self.inner.tokens().id_token.clone()
    }

    #[wasm_bindgen(js_name = isEnded)]
    pub fn is_ended(&self) -> bool {
        self.inner.is_ended()
    }
}

/// One call's recovery from a `401`; see [`session::UnauthorizedRecovery`].
#[wasm_bindgen]
#[derive(Default)]
pub struct Recovery {
    inner: session::UnauthorizedRecovery,
}

#[wasm_bindgen]
impl Recovery {
    #[wasm_bindgen(constructor)]
    pub fn new() -> Recovery {
        Recovery::default()
    }

    /// `deliver`, `refresh`, `retry` or `give_up`.
    #[wasm_bindgen(js_name = onResponse)]
    pub fn on_response(&mut self, status: u16, session: &Session, now: f64) -> String {
        step(self.inner.on_response(status, &session.inner, secs(now)))
    }

    #[wasm_bindgen(js_name = onRefreshed)]
    pub fn on_refreshed(&mut self, ok: bool) -> String {
        step(self.inner.on_refreshed(ok))
    }
}

fn step(step: RecoveryStep) -> String {
    match step {
        RecoveryStep::Deliver => "deliver",
        RecoveryStep::Refresh => "refresh",
        RecoveryStep::Retry => "retry",
        RecoveryStep::GiveUp => "give_up",
    }
    .to_owned()
}

/// The RP-initiated logout URL; see [`end_session::end_session_url`].
#[wasm_bindgen(js_name = endSessionUrl)]
pub fn end_session_url(
    endpoint: &str,
    client_id: &str,
    id_token_hint: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
) -> JsResult<String> {
    end_session::end_session_url(
        endpoint,
        client_id,
        id_token_hint.as_deref(),
        post_logout_redirect_uri.as_deref(),
        state.as_deref(),
    )
    .map_err(throw)
}

/// Seconds to wait after a `429`, or `undefined` to hand it to the caller.
#[wasm_bindgen(js_name = rateLimitDelay)]
pub fn rate_limit_delay(
    retry_after: Option<String>,
    attempt: u32,
    now: f64,
    jitter: u32,
) -> Option<f64> {
    session::rate_limit_delay(retry_after.as_deref(), attempt, secs(now), jitter).map(|d| d as f64)
}

/// Server clock minus host clock (seconds) from a `Date` header received at `now`; `0` when
/// the header is not an HTTP date.
#[wasm_bindgen(js_name = clockOffsetFromDate)]
pub fn clock_offset_from_date(date: &str, now: f64) -> f64 {
    ClockOffset::from_date_header(date, secs(now)).map_or(0.0, |c| c.seconds() as f64)
}

#[wasm_bindgen(js_name = mayReplay)]
pub fn may_replay(method: &str, caller_allows: bool) -> bool {
    session::may_replay(method, caller_allows)
}

#[wasm_bindgen(js_name = discoveryUrl)]
pub fn discovery_url(issuer: &str) -> JsResult<String> {
    oauth::discovery_url(issuer).map_err(throw)
}

/// The RFC 8414 metadata URL of `issuer`, where some providers alone publish an endpoint.
#[wasm_bindgen(js_name = authorizationServerMetadataUrl)]
pub fn authorization_server_metadata_url(issuer: &str) -> JsResult<String> {
    oauth::discovery::authorization_server_metadata_url(issuer).map_err(throw)
}

/// The endpoints of a checked discovery document as JSON; see
/// [`oauth::ProviderMetadata::parse`]. Only what the TypeScript layer uses crosses, which keeps
/// a writer for every metadata field out of the browser build.
#[wasm_bindgen(js_name = parseDiscovery)]
pub fn parse_discovery(status: u16, body: &[u8], issuer: &str) -> JsResult<String> {
    #[derive(Serialize)]
    struct Endpoints<'a> {
        issuer: &'a str,
        authorization_endpoint: Option<&'a str>,
        token_endpoint: Option<&'a str>,
        jwks_uri: Option<&'a str>,
        pushed_authorization_request_endpoint: Option<&'a str>,
        revocation_endpoint: Option<&'a str>,
        userinfo_endpoint: Option<&'a str>,
        end_session_endpoint: Option<&'a str>,
        authorization_response_iss_parameter_supported: bool,
        require_pushed_authorization_requests: bool,
    }
    let m = oauth::ProviderMetadata::parse(status, body, issuer).map_err(throw)?;
    Ok(to_json(&Endpoints {
        issuer: &m.issuer,
        authorization_endpoint: m.authorization_endpoint.as_deref(),
        token_endpoint: m.token_endpoint.as_deref(),
        jwks_uri: m.jwks_uri.as_deref(),
        pushed_authorization_request_endpoint: m.pushed_authorization_request_endpoint.as_deref(),
        revocation_endpoint: m.revocation_endpoint.as_deref(),
        userinfo_endpoint: m.userinfo_endpoint.as_deref(),
        end_session_endpoint: m.end_session_endpoint.as_deref(),
        authorization_response_iss_parameter_supported: m
            .authorization_response_iss_parameter_supported,
        require_pushed_authorization_requests: m.require_pushed_authorization_requests,
    }))
}

/// Throws unless a revocation answer says the token is revoked (RFC 7009 §2.2).
#[wasm_bindgen(js_name = checkRevocationResponse)]
pub fn check_revocation_response(status: u16, body: &[u8]) -> JsResult<()> {
    oauth::parse_revocation_response(status, body).map_err(throw)
}

#[wasm_bindgen(js_name = requireSecureEndpoint)]
pub fn require_secure_endpoint(url: &str) -> JsResult<()> {
    oauth::require_secure_endpoint(url).map_err(throw)
}

/// `{"type","environment","prefix","display_prefix"}` of a well-formed standard key.
#[wasm_bindgen(js_name = parseApiKey)]
pub fn parse_api_key(key: &str) -> JsResult<String> {
    apikey::parse(key, &apikey::KeyPrefixes::standard())
        .map(|p| parsed_key_json(&p))
        .map_err(throw)
}

/// Like [`parse_api_key`], but only `pk_` keys pass; see [`apikey::require_publishable`].
#[wasm_bindgen(js_name = requirePublishableKey)]
pub fn require_publishable_key(key: &str) -> JsResult<String> {
    apikey::require_publishable(key)
        .map(|p| parsed_key_json(&p))
        .map_err(throw)
}

fn parsed_key_json(p: &apikey::ParsedApiKey) -> String {
    #[derive(Serialize)]
    struct Parsed<'a> {
        #[serde(rename = "type")]
        key_type: &'a str,
        environment: &'a str,
        prefix: &'a str,
        display_prefix: &'a str,
    }
    to_json(&Parsed {
        key_type: p.key_type().as_str(),
        environment: p.environment().as_str(),
        prefix: p.prefix(),
        display_prefix: p.display_prefix(),
    })
}

/// See [`audit::redact`].
#[wasm_bindgen]
pub fn redact(secret: &str) -> String {
    audit::redact(secret)
}
