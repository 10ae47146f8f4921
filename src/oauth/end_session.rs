//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0 §2): the URL that sends the user
//! agent to the provider's `end_session_endpoint`, so the provider's own login session ends too.

use crate::error::AuthError;
use crate::oauth::authorize::append_query;
use crate::oauth::http::require_secure_endpoint;
use crate::oauth::login::check_redirect_uri;

/// The logout URL: `id_token_hint` (which session to end, and proof the request comes from its
/// client), `client_id`, and `post_logout_redirect_uri` (checked like a redirect URI; the
/// provider accepts only a registered one) with an optional `state` for it. The endpoint's own
/// query is kept.
pub fn end_session_url(
    endpoint: &str,
    client_id: &str,
    id_token_hint: Option<&str>,
    post_logout_redirect_uri: Option<&str>,
    state: Option<&str>,
) -> Result<String, AuthError> {
    require_secure_endpoint(endpoint)?;
    if let Some(uri) = post_logout_redirect_uri {
        check_redirect_uri(uri)?;
    }
    let mut params = Vec::with_capacity(4);
    if let Some(hint) = id_token_hint {
        params.push(("id_token_hint", hint));
    }
    params.push(("client_id", client_id));
    if let Some(uri) = post_logout_redirect_uri {
        params.push(("post_logout_redirect_uri", uri));
        if let Some(state) = state {
            params.push(("state", state));
        }
    }
    Ok(append_query(endpoint, &params))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn carries_hint_client_and_return_address() {
        let url = end_session_url(
            "https://op.example/logout?tenant=1",
            "spa",
            Some("h.i.nt"),
            Some("https://app.example/bye?x=1&y=2"),
            Some("s1"),
        )
        .unwrap();
        assert_eq!(
            url,
            "https://op.example/logout?tenant=1&id_token_hint=h.i.nt&client_id=spa\
             &post_logout_redirect_uri=https%3A%2F%2Fapp.example%2Fbye%3Fx%3D1%26y%3D2&state=s1"
        );
        assert_eq!(
            end_session_url("https://op.example/logout", "spa", None, None, Some("s")).unwrap(),
            "https://op.example/logout?client_id=spa"
        );
    }

    #[test]
    fn refuses_insecure_endpoints_and_script_return_addresses() {
        for (endpoint, back) in [
            ("http://op.example/logout", None),
            ("https://op.example/logout", Some("javascript:alert(1)")),
            ("https://op.example/logout", Some("http://evil.example/")),
        ] {
            let e = end_session_url(endpoint, "spa", None, back, None).unwrap_err();
            assert_eq!(e.code(), ErrorCode::InvalidConfig, "{endpoint} {back:?}");
        }
    }
}
