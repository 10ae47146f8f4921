//! Who signed in: the ID token's claims and the UserInfo endpoint's answer (OpenID Connect Core
//! §5.3). Both are handed to the app as JSON text after the checks below; the core does not
//! re-encode them, so the browser build carries no generic JSON writer.

use crate::error::{AuthError, ErrorCode};
use crate::oauth::http::{require_secure_endpoint, HttpRequest, MAX_RESPONSE_BYTES};
use crate::oauth::unverified;

/// The `sub` of a JSON object: present, a string, not repeated.
fn subject(json: &[u8], msg: &'static str) -> Result<String, AuthError> {
    unverified::known_claims(json)
        .ok()
        .and_then(|c| c.sub)
        .ok_or_else(|| invalid(msg))
}

fn invalid(msg: &'static str) -> AuthError {
    AuthError::with_message(ErrorCode::InvalidResponse, msg)
}

/// The ID token's claims as JSON text, once its payload is a JSON object with a `sub`. Not
/// verified here: the token came from the token endpoint over TLS and its `nonce` was checked
/// at sign-in (OpenID Connect Core §3.1.3.7). Returns the `sub` too.
pub fn id_token_claims(id_token: &str) -> Result<(String, String), AuthError> {
    let payload = unverified::payload(id_token)?;
    let sub = subject(&payload, "the ID token claims have no single string sub")?;
    let text =
        String::from_utf8(payload).map_err(|_| invalid("the ID token claims are not UTF-8"))?;
    Ok((text, sub))
}

/// `GET` the UserInfo endpoint with the access token (RFC 6750 §2.1).
pub fn userinfo_request(url: &str, access_token: &str) -> Result<HttpRequest, AuthError> {
    require_secure_endpoint(url)?;
    Ok(HttpRequest {
        method: "GET".into(),
        url: url.into(),
        headers: vec![
            ("Accept".into(), "application/json".into()),
            ("Authorization".into(), format!("Bearer {access_token}")),
        ],
        body: String::new(),
    })
}

/// The UserInfo answer as JSON text. Its `sub` must equal the ID token's, or the answer may be
/// about someone else and must not be used (OpenID Connect Core §5.3.4). A `401`/`403` (the
/// access token refused) is [`ErrorCode::SessionExpired`]. Signed or encrypted answers
/// (`application/jwt`) are not read.
pub fn parse_userinfo(status: u16, body: &[u8], id_token_sub: &str) -> Result<String, AuthError> {
    match status {
        200 => {}
        401 | 403 => {
            return Err(AuthError::with_message(
                ErrorCode::SessionExpired,
                "the UserInfo endpoint refused the access token",
            ))
        }
        _ => {
            return Err(invalid(
                "the UserInfo endpoint answered with an error status",
            ))
        }
    }
    if body.len() > MAX_RESPONSE_BYTES {
        return Err(invalid("the UserInfo answer is too large"));
    }
    let sub = subject(
        body,
        "the UserInfo answer is not a JSON object with a string sub",
    )?;
    if sub != id_token_sub {
        return Err(invalid("the UserInfo sub is not the ID token's sub"));
    }
    String::from_utf8(body.to_vec()).map_err(|_| invalid("the UserInfo answer is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64ct::{Base64UrlUnpadded, Encoding};

    fn id_token(claims: &str) -> String {
        format!(
            "e30.{}.c2ln",
            Base64UrlUnpadded::encode_string(claims.as_bytes())
        )
    }

    #[test]
    fn id_token_claims_are_handed_over_with_their_sub() {
        let claims = r#"{"sub":"alice","email":"a@example.com","nonce":"n"}"#;
        let (text, sub) = id_token_claims(&id_token(claims)).unwrap();
        assert_eq!((text.as_str(), sub.as_str()), (claims, "alice"));
        for bad in [
            r#"{"email":"x"}"#,
            r#"{"sub":1}"#,
            r#"{"sub":"a","sub":"b"}"#,
            "[]",
        ] {
            let e = id_token_claims(&id_token(bad)).unwrap_err();
            assert_eq!(e.code(), ErrorCode::InvalidResponse, "{bad}");
        }
        assert!(id_token_claims("not-a-jwt").is_err());
    }

    #[test]
    fn userinfo_request_is_a_bearer_get_over_tls() {
        let r = userinfo_request("https://op.example/me", "at").unwrap();
        assert_eq!(
            (r.method.as_str(), r.header("authorization")),
            ("GET", Some("Bearer at"))
        );
        assert!(r.body.is_empty());
        let e = userinfo_request("http://op.example/me", "at").unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidConfig);
    }

    #[test]
    fn userinfo_sub_must_be_the_id_tokens() {
        let body = br#"{"sub":"alice","name":"Alice"}"#;
        assert_eq!(parse_userinfo(200, body, "alice").unwrap().as_bytes(), body);
        let e = parse_userinfo(200, body, "mallory").unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidResponse);
        for bad in [
            &b"{}"[..],
            b"eyJhbGciOi.x.y",
            br#"{"sub":"alice","sub":"alice"}"#,
        ] {
            assert_eq!(
                parse_userinfo(200, bad, "alice").unwrap_err().code(),
                ErrorCode::InvalidResponse
            );
        }
        assert_eq!(
            parse_userinfo(401, b"", "alice").unwrap_err().code(),
            ErrorCode::SessionExpired
        );
        assert_eq!(
            parse_userinfo(500, body, "alice").unwrap_err().code(),
            ErrorCode::InvalidResponse
        );
    }
}
