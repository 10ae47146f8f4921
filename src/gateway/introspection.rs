//! RFC 7662 introspection of opaque tokens at the edge: the endpoint and its client are built
//! once from the configuration; per token only the call is made, and its answer is cached
//! (active answers up to the token's `exp`, inactive ones briefly).

use super::call::Call;
use super::config::{ClientAuthMethod, IntrospectionConfig, RemoteSource};
use super::sources::source_url;
use crate::error::{AuthError, ErrorCode};
use crate::oauth::client_auth::{ClientAuth, OAuthClient};
use crate::oauth::introspection::{IntrospectionEndpoint, TokenTypeHint};

/// The configured endpoint, ready to call.
#[derive(Debug)]
pub(super) struct Introspector {
    pub settings: IntrospectionConfig,
    endpoint: IntrospectionEndpoint,
    /// The configured `url` with its path, for hosts that fetch by URL.
    url: Option<String>,
    path: String,
}

impl Introspector {
    pub fn new(cfg: &IntrospectionConfig) -> Result<Introspector, AuthError> {
        let secret = cfg.client_secret.clone();
        let auth = match cfg.auth_method {
            ClientAuthMethod::ClientSecretPost => ClientAuth::ClientSecretPost {
                client_secret: secret,
            },
            ClientAuthMethod::ClientSecretBasic => ClientAuth::ClientSecretBasic {
                client_secret: secret,
            },
        };
        let RemoteSource {
            path, authority, ..
        } = &cfg.endpoint;
        let path = path.clone().unwrap_or_default();
        let url = source_url(&cfg.endpoint, &path);
        // Envoy calls a cluster: the URL only carries the path into the request line.
        let target = url.clone().unwrap_or_else(|| {
            format!(
                "https://{}{path}",
                authority.as_deref().unwrap_or("introspection")
            )
        });
        let endpoint = OAuthClient::new(cfg.client_id.clone(), auth)
            .and_then(|client| IntrospectionEndpoint::new(target, client))
            .map_err(|e| {
                AuthError::with_message(
                    ErrorCode::InvalidConfig,
                    format!("introspection: {}", e.message()),
                )
            })?;
        Ok(Introspector {
            settings: cfg.clone(),
            endpoint,
            url,
            path,
        })
    }

    /// Where the calls go, for log lines.
    pub fn location(&self) -> String {
        let e = &self.settings.endpoint;
        super::sources::location(e.cluster.as_deref(), self.url.as_deref(), &self.path)
    }

    /// The call for one token.
    pub fn call(&self, token: &str) -> Result<Call, AuthError> {
        let request = self
            .endpoint
            .request(token, Some(TokenTypeHint::AccessToken))?;
        let e = &self.settings.endpoint;
        Ok(Call {
            purpose: super::INTROSPECTION,
            method: "POST",
            cluster: e.cluster.clone(),
            authority: e.authority.clone(),
            url: self.url.clone(),
            path: self.path.clone(),
            timeout_ms: e.timeout_ms,
            headers: request.headers,
            body: Some(request.body),
            max_bytes: crate::oauth::http::MAX_RESPONSE_BYTES as u64,
        })
    }
}
