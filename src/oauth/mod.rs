//! OAuth 2.0 and OpenID Connect client building blocks, sans-IO: every network step is an
//! [`HttpRequest`] to send or a response (status and body bytes) to parse.

pub mod authorize;
pub mod client_assertion;
pub mod client_auth;
pub mod credential_login;
pub mod discovery;
pub mod end_session;
pub mod error_response;
pub mod http;
pub mod introspection;
pub mod login;
pub(crate) mod members;
pub mod par;
pub mod pkce;
pub mod revocation;
pub mod state;
pub mod token_request;
pub mod token_response;
pub mod token_source;
pub mod unverified;
pub mod user;

pub use authorize::{
    parse_callback_query, parse_callback_url, AuthorizationCode, AuthorizationRequest,
};
pub use client_auth::{ClientAuth, OAuthClient};
pub use credential_login::{password_grant, CredentialEndpoint};
pub use discovery::{discovery_request, discovery_url, ProviderMetadata};
pub use error_response::{OAuthErrorKind, OAuthErrorResponse};
pub use http::{require_secure_endpoint, BodyFormat, HttpRequest, MAX_RESPONSE_BYTES};
pub use introspection::{Introspection, IntrospectionEndpoint};
pub use par::{parse_par_response, ParEndpoint, PushedAuthorization};
pub use pkce::{CodeChallenge, CodeChallengeMethod, CodeVerifier};
pub use revocation::{parse_revocation_response, RevocationEndpoint, TokenTypeHint};
pub use state::{generate_nonce, generate_state, verify_nonce, verify_state};
pub use token_request::{RefreshStyle, TokenEndpoint, TokenParams};
pub use token_response::{parse_token_response, TokenResponse};
