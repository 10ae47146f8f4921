//! Published JOSE test vectors, verified through the public API.
//!
//! Vector data (keys, tokens, signatures, thumbprints) is copied from the RFCs: RFC 7515
//! Appendix A, RFC 7520 §3–4 and RFC 8037 Appendix A. Long values are split with `concat!` only
//! to keep lines short (for RFC 7520 at the RFC's own line breaks); the bytes are the RFC's.
//! Every vector is checked twice: the RFC's token verifies with the RFC's key, and the same token
//! with one character of the payload or of the signature changed is refused as
//! `invalid_signature`.

use base64ct::{Base64UrlUnpadded, Encoding};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use tokenwarden::{Algorithm, ErrorCode, Jwk, JwkSet, Validation, Verifier};

// ---------------------------------------------------------------------------------------------
// RFC 7515 Appendix A
// ---------------------------------------------------------------------------------------------

/// RFC 7515 A.1: the HMAC key.
const RFC7515_A1_K: &str =
    "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";

/// RFC 7515 A.1 (also the RFC 7519 §3.1 example JWT).
const RFC7515_A1_JWS: &str = concat!(
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9",
    ".",
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt",
    "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ",
    ".",
    "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
);

/// RFC 7515 A.1–A.3: the JWS Payload octets (a CRLF and a space between members).
const RFC7515_JWT_PAYLOAD: &[u8] =
    b"{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}";

/// RFC 7515 A.2: the RSA key's public members.
const RFC7515_A2_N: &str = concat!(
    "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL",
    "-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e",
    "-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9",
    "_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ",
);
const RFC7515_A2_E: &str = "AQAB";

const RFC7515_A2_JWS: &str = concat!(
    "eyJhbGciOiJSUzI1NiJ9",
    ".",
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt",
    "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ",
    ".",
    "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7",
    "AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4",
    "BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K",
    "0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqv",
    "hJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrB",
    "p0igcN_IoypGlUPQGe77Rw",
);

/// RFC 7515 A.3: the P-256 key's public members.
const RFC7515_A3_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
const RFC7515_A3_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";

const RFC7515_A3_JWS: &str = concat!(
    "eyJhbGciOiJFUzI1NiJ9",
    ".",
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt",
    "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ",
    ".",
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q",
);

/// RFC 7515 A.4: the P-521 key's public members.
const RFC7515_A4_X: &str =
    "AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcBpXp5EOnYG_NjFZ6OvLFV1jSfS9tsz4qUxcWceqwQGk";
const RFC7515_A4_Y: &str =
    "ADSmRA43Z1DSNx_RvcLI87cdL07l6jQyyBXMoxVg_l2Th-x3S1WDhjDly79ajL4Kkd0AZMaZmh9ubmf63e3kyMj2";

/// RFC 7515 A.4: the payload is the ASCII string "Payload".
const RFC7515_A4_JWS: &str = concat!(
    "eyJhbGciOiJFUzUxMiJ9",
    ".",
    "UGF5bG9hZA",
    ".",
    "AdwMgeerwtHoh-l192l60hp9wAHZFVJbLfD_UxMi70cwnZOYaRI1bKPWROc-mZZq",
    "wqT2SI-KGDKB34XO0aw_7XdtAG8GaSwFKdCAPZgoXD2YBJZCPEX3xKpRwcdOO8Kp",
    "EHwJjyqOgzDO7iKvU8vcnwNrmxYbSW9ERBXukOXolLzeO_Jn",
);

// ---------------------------------------------------------------------------------------------
// RFC 7520 §3 (keys) and §4 (JWS examples)
// ---------------------------------------------------------------------------------------------

const RFC7520_KID: &str = "bilbo.baggins@hobbiton.example";

/// RFC 7520 Figure 1 (§3.1): EC P-521 public key.
fn rfc7520_ec_public() -> Value {
    json!({
        "kty": "EC",
        "kid": "bilbo.baggins@hobbiton.example",
        "use": "sig",
        "crv": "P-521",
        "x": concat!(
            "AHKZLLOsCOzz5cY97ewNUajB957y-C-U88c3v13nmGZx6sYl_oJXu9",
            "A5RkTKqjqvjyekWF-7ytDyRXYgCF5cj0Kt"
        ),
        "y": concat!(
            "AdymlHvOiLxXkEhayXQnNCvDX4h9htZaCJN34kfmC6pV5OhQHiraVy",
            "SsUdaQkAgDPrwQrJmbnX9cwlGfP-HqHZR1"
        )
    })
}

/// RFC 7520 Figure 2 (§3.2): the private member `d` of the same key.
const RFC7520_EC_D: &str = concat!(
    "AAhRON2r9cqXX1hg-RoI6R1tX5p2rUAYdmpHZoC1XNM56KtscrX6zb",
    "KipQrCW9CGZH3T4ubpnoTKLDYJ_fF3_rJt"
);

/// RFC 7520 Figure 3 (§3.3): RSA 2048-bit public key (Figure 4 without d, p, q, dp, dq, qi).
/// Like the RFC's key it has no `alg`, so it serves both RS256 (§4.1) and PS384 (§4.2).
fn rfc7520_rsa_public() -> Value {
    json!({
        "kty": "RSA",
        "kid": "bilbo.baggins@hobbiton.example",
        "use": "sig",
        "n": concat!(
            "n4EPtAOCc9AlkeQHPzHStgAbgs7bTZLwUBZdR8_KuKPEHLd4rHVTeT",
            "-O-XV2jRojdNhxJWTDvNd7nqQ0VEiZQHz_AJmSCpMaJMRBSFKrKb2wqV",
            "wGU_NsYOYL-QtiWN2lbzcEe6XC0dApr5ydQLrHqkHHig3RBordaZ6Aj-",
            "oBHqFEHYpPe7Tpe-OfVfHd1E6cS6M1FZcD1NNLYD5lFHpPI9bTwJlsde",
            "3uhGqC0ZCuEHg8lhzwOHrtIQbS0FVbb9k3-tVTU4fg_3L_vniUFAKwuC",
            "LqKnS2BYwdq_mzSnbLY7h_qixoR7jig3__kRhuaxwUkRz5iaiQkqgc5g",
            "HdrNP5zw"
        ),
        "e": "AQAB"
    })
}

/// RFC 7520 Figure 5 (§3.5): HMAC SHA-256 symmetric key.
fn rfc7520_hmac_key() -> Value {
    json!({
        "kty": "oct",
        "kid": "018c0ae5-4d9b-471b-bfd6-eef314bc7037",
        "use": "sig",
        "alg": "HS256",
        "k": "hJtXIZ2uSN5kbQfbtTNWbpdmhkV8FJG-Onbc6mxCcYg"
    })
}

/// RFC 7520 Figure 7: the payload content, with U+2019 for "\xe2\x80\x99".
const RFC7520_PAYLOAD_TEXT: &str = concat!(
    "It\u{2019}s a dangerous business, Frodo, going out your ",
    "door. You step onto the road, and if you don't keep your feet, ",
    "there\u{2019}s no knowing where you might be swept off ",
    "to."
);

/// RFC 7520 Figure 8: the payload, base64url-encoded.
const RFC7520_PAYLOAD_B64: &str = concat!(
    "SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IH",
    "lvdXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBk",
    "b24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcm",
    "UgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4",
);

/// RFC 7520 Figure 13 (§4.1.3): RS256, JWS Compact Serialization.
const RFC7520_4_1_JWS: &str = concat!(
    "eyJhbGciOiJSUzI1NiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZX",
    "hhbXBsZSJ9",
    ".",
    "SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IH",
    "lvdXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBk",
    "b24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcm",
    "UgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4",
    ".",
    "MRjdkly7_-oTPTS3AXP41iQIGKa80A0ZmTuV5MEaHoxnW2e5CZ5NlKtainoFmK",
    "ZopdHM1O2U4mwzJdQx996ivp83xuglII7PNDi84wnB-BDkoBwA78185hX-Es4J",
    "IwmDLJK3lfWRa-XtL0RnltuYv746iYTh_qHRD68BNt1uSNCrUCTJDt5aAE6x8w",
    "W1Kt9eRo4QPocSadnHXFxnt8Is9UzpERV0ePPQdLuW3IS_de3xyIrDaLGdjluP",
    "xUAhb6L2aXic1U12podGU0KLUQSE_oI-ZnmKJ3F4uOZDnd6QZWJushZ41Axf_f",
    "cIe8u9ipH84ogoree7vjbU5y18kDquDg",
);

/// RFC 7520 Figure 20 (§4.2.3): PS384, JWS Compact Serialization.
const RFC7520_4_2_JWS: &str = concat!(
    "eyJhbGciOiJQUzM4NCIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZX",
    "hhbXBsZSJ9",
    ".",
    "SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IH",
    "lvdXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBk",
    "b24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcm",
    "UgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4",
    ".",
    "cu22eBqkYDKgIlTpzDXGvaFfz6WGoz7fUDcfT0kkOy42miAh2qyBzk1xEsnk2I",
    "pN6-tPid6VrklHkqsGqDqHCdP6O8TTB5dDDItllVo6_1OLPpcbUrhiUSMxbbXU",
    "vdvWXzg-UD8biiReQFlfz28zGWVsdiNAUf8ZnyPEgVFn442ZdNqiVJRmBqrYRX",
    "e8P_ijQ7p8Vdz0TTrxUeT3lm8d9shnr2lfJT8ImUjvAA2Xez2Mlp8cBE5awDzT",
    "0qI0n6uiP1aCN_2_jLAeQTlqRHtfa64QQSUmFAAjVKPbByi7xho0uTOcbH510a",
    "6GYmJUAfmWjwZ6oD4ifKo8DYM-X72Eaw",
);

/// RFC 7520 Figure 27 (§4.3.3): ES512, JWS Compact Serialization.
const RFC7520_4_3_JWS: &str = concat!(
    "eyJhbGciOiJFUzUxMiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZX",
    "hhbXBsZSJ9",
    ".",
    "SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IH",
    "lvdXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBk",
    "b24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcm",
    "UgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4",
    ".",
    "AE_R_YZCChjn4791jSQCrdPZCNYqHXCTZH0-JZGYNlaAjP2kqaluUIIUnC9qvb",
    "u9Plon7KRTzoNEuT4Va2cmL1eJAQy3mtPBu_u_sDDyYjnAMDxXPn7XrT0lw-kv",
    "AD890jl8e2puQens_IEKBpHABlsbEPX6sFY8OcGDqoRuBomu9xQ2",
);

/// RFC 7520 Figure 34 (§4.4.3): HS256, JWS Compact Serialization.
const RFC7520_4_4_JWS: &str = concat!(
    "eyJhbGciOiJIUzI1NiIsImtpZCI6IjAxOGMwYWU1LTRkOWItNDcxYi1iZmQ2LW",
    "VlZjMxNGJjNzAzNyJ9",
    ".",
    "SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IH",
    "lvdXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBk",
    "b24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcm",
    "UgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4",
    ".",
    "s0h6KThzkfBBBkLspW1h84VsJZFTsPPqMDA7g1Md7p0",
);

// ---------------------------------------------------------------------------------------------
// RFC 8037 Appendix A
// ---------------------------------------------------------------------------------------------

/// RFC 8037 A.2: the Ed25519 public key.
fn rfc8037_public() -> Value {
    json!({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})
}

/// RFC 8037 A.1: the private member `d` of the same key.
const RFC8037_D: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";

/// RFC 8037 A.3: the RFC 7638 thumbprint of the A.2 key.
const RFC8037_THUMBPRINT: &str = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";

/// RFC 8037 A.4: the JWS of "Example of Ed25519 signing" with header {"alg":"EdDSA"}.
const RFC8037_A4_JWS: &str = concat!(
    "eyJhbGciOiJFZERTQSJ9",
    ".",
    "RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc",
    ".",
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg",
);

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn verifier_for(jwk: &Value) -> Verifier {
    let key = Jwk::from_value(jwk).expect("the RFC key loads");
    Verifier::new(
        JwkSet::from_keys(vec![key]).expect("a one-key set"),
        Validation::default(),
    )
}

/// Replaces the character at `pos` of dot-separated part `part` by another base64url character.
/// `pos` is never the last character of a part, so the result is still canonical base64url and
/// decodes to different bytes: the refusal comes from the signature check, not the parser.
fn change_char(token: &str, part: usize, pos: usize) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut chars: Vec<char> = parts[part].chars().collect();
    assert!(pos + 1 < chars.len(), "never the last character");
    chars[pos] = if chars[pos] == 'A' { 'B' } else { 'A' };
    parts[part] = chars.into_iter().collect();
    parts.join(".")
}

/// Checks that `token` verifies with `v` (algorithm `alg`, payload `payload`) and that changing
/// any of several characters of the payload or the signature makes it `invalid_signature`.
fn assert_vector(v: &Verifier, token: &str, alg: Algorithm, payload: &[u8]) {
    let (header, got) = v.verify_signature(token).expect("the RFC vector verifies");
    assert_eq!(header.alg, alg);
    assert_eq!(got, payload);

    for part in [1, 2] {
        let len = token.split('.').nth(part).unwrap().len();
        for pos in [0, len / 2, len - 2] {
            let changed = change_char(token, part, pos);
            assert_ne!(changed, token);
            let err = v
                .verify_signature(&changed)
                .expect_err("a changed payload or signature must not verify");
            assert_eq!(
                err.code(),
                ErrorCode::InvalidSignature,
                "part {part}, position {pos}"
            );
        }
    }
}

fn b64(s: &str) -> Vec<u8> {
    Base64UrlUnpadded::decode_vec(s).expect("base64url")
}

fn hs256_token(key: &[u8], header: &str, claims: &str) -> String {
    let input = format!(
        "{}.{}",
        Base64UrlUnpadded::encode_string(header.as_bytes()),
        Base64UrlUnpadded::encode_string(claims.as_bytes())
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(input.as_bytes());
    let sig = mac.finalize().into_bytes();
    format!("{input}.{}", Base64UrlUnpadded::encode_string(&sig))
}

// ---------------------------------------------------------------------------------------------
// RFC 7515 Appendix A
// ---------------------------------------------------------------------------------------------

#[test]
fn rfc7515_a1_hs256() {
    let v = verifier_for(&json!({"kty":"oct","k":RFC7515_A1_K}));
    assert_vector(&v, RFC7515_A1_JWS, Algorithm::HS256, RFC7515_JWT_PAYLOAD);
    let (header, _) = v.verify_signature(RFC7515_A1_JWS).unwrap();
    assert_eq!(header.typ.as_deref(), Some("JWT"));
}

#[test]
fn rfc7515_a2_rs256() {
    let v = verifier_for(&json!({"kty":"RSA","n":RFC7515_A2_N,"e":RFC7515_A2_E}));
    assert_vector(&v, RFC7515_A2_JWS, Algorithm::RS256, RFC7515_JWT_PAYLOAD);
}

#[test]
fn rfc7515_a3_es256() {
    let v = verifier_for(&json!({"kty":"EC","crv":"P-256","x":RFC7515_A3_X,"y":RFC7515_A3_Y}));
    assert_vector(&v, RFC7515_A3_JWS, Algorithm::ES256, RFC7515_JWT_PAYLOAD);
}

#[test]
fn rfc7515_a4_es512() {
    let v = verifier_for(&json!({"kty":"EC","crv":"P-521","x":RFC7515_A4_X,"y":RFC7515_A4_Y}));
    assert_vector(&v, RFC7515_A4_JWS, Algorithm::ES512, b"Payload");
}

#[test]
fn rfc7515_vectors_do_not_verify_under_each_others_keys() {
    // The same payload under A.1–A.3: each token must be bound to its own key and algorithm.
    let hs = verifier_for(&json!({"kty":"oct","k":RFC7515_A1_K}));
    let rs = verifier_for(&json!({"kty":"RSA","n":RFC7515_A2_N,"e":RFC7515_A2_E}));
    let es = verifier_for(&json!({"kty":"EC","crv":"P-256","x":RFC7515_A3_X,"y":RFC7515_A3_Y}));
    for (v, token) in [
        (&hs, RFC7515_A2_JWS),
        (&hs, RFC7515_A3_JWS),
        (&rs, RFC7515_A1_JWS),
        (&rs, RFC7515_A3_JWS),
        (&es, RFC7515_A1_JWS),
        (&es, RFC7515_A2_JWS),
    ] {
        assert_eq!(
            v.verify_signature(token).unwrap_err().code(),
            ErrorCode::UnsupportedAlgorithm
        );
    }
}

// ---------------------------------------------------------------------------------------------
// RFC 7519 §3.1 / RFC 7515 A.1 as a JWT: exp 1300819380, default leeway 60 s
// ---------------------------------------------------------------------------------------------

const RFC7519_EXP: u64 = 1_300_819_380;

#[test]
fn rfc7519_example_jwt_is_accepted_before_exp() {
    let v = verifier_for(&json!({"kty":"oct","k":RFC7515_A1_K}));
    assert_eq!(v.validation().leeway, 60, "the default leeway");
    let ok = v.verify(RFC7515_A1_JWS, RFC7519_EXP - 100).unwrap();
    assert_eq!(ok.iss(), Some("joe"));
    assert_eq!(ok.exp(), Some(RFC7519_EXP));
    assert_eq!(ok.claim("http://example.com/is_root"), Some(&json!(true)));
    assert_eq!(ok.header().typ.as_deref(), Some("JWT"));
    // Inside the leeway it still passes; at exp + leeway it no longer does.
    assert!(v.verify(RFC7515_A1_JWS, RFC7519_EXP + 59).is_ok());
    assert_eq!(
        v.verify(RFC7515_A1_JWS, RFC7519_EXP + 60)
            .unwrap_err()
            .code(),
        ErrorCode::ExpiredToken
    );
}

#[test]
fn rfc7519_example_jwt_is_expired_after_exp_plus_leeway() {
    let v = verifier_for(&json!({"kty":"oct","k":RFC7515_A1_K}));
    let err = v.verify(RFC7515_A1_JWS, RFC7519_EXP + 61).unwrap_err();
    assert_eq!(err.code(), ErrorCode::ExpiredToken);
}

#[test]
fn a_string_exp_is_an_invalid_claim() {
    let key = b64(RFC7515_A1_K);
    let v = verifier_for(&json!({"kty":"oct","k":RFC7515_A1_K}));
    let token = hs256_token(
        &key,
        r#"{"typ":"JWT","alg":"HS256"}"#,
        r#"{"iss":"joe","exp":"1300819380","http://example.com/is_root":true}"#,
    );
    // The signature is good, so the refusal is about the claim itself.
    assert!(v.verify_signature(&token).is_ok());
    let err = v.verify(&token, RFC7519_EXP - 100).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidClaim);
    // Control: the same claims with a numeric exp pass.
    let numeric = hs256_token(
        &key,
        r#"{"typ":"JWT","alg":"HS256"}"#,
        r#"{"iss":"joe","exp":1300819380,"http://example.com/is_root":true}"#,
    );
    assert!(v.verify(&numeric, RFC7519_EXP - 100).is_ok());
}

// ---------------------------------------------------------------------------------------------
// RFC 7520 §4.1–4.4
// ---------------------------------------------------------------------------------------------

#[test]
fn rfc7520_payload_matches_its_encoding() {
    assert_eq!(b64(RFC7520_PAYLOAD_B64), RFC7520_PAYLOAD_TEXT.as_bytes());
    for token in [
        RFC7520_4_1_JWS,
        RFC7520_4_2_JWS,
        RFC7520_4_3_JWS,
        RFC7520_4_4_JWS,
    ] {
        assert_eq!(token.split('.').nth(1), Some(RFC7520_PAYLOAD_B64));
    }
}

#[test]
fn rfc7520_4_1_rs256() {
    let v = verifier_for(&rfc7520_rsa_public());
    assert_vector(
        &v,
        RFC7520_4_1_JWS,
        Algorithm::RS256,
        RFC7520_PAYLOAD_TEXT.as_bytes(),
    );
    let (header, _) = v.verify_signature(RFC7520_4_1_JWS).unwrap();
    assert_eq!(header.kid.as_deref(), Some(RFC7520_KID));
}

#[test]
fn rfc7520_4_2_ps384() {
    let v = verifier_for(&rfc7520_rsa_public());
    assert_vector(
        &v,
        RFC7520_4_2_JWS,
        Algorithm::PS384,
        RFC7520_PAYLOAD_TEXT.as_bytes(),
    );
}

#[test]
fn rfc7520_4_3_es512() {
    let v = verifier_for(&rfc7520_ec_public());
    assert_vector(
        &v,
        RFC7520_4_3_JWS,
        Algorithm::ES512,
        RFC7520_PAYLOAD_TEXT.as_bytes(),
    );
}

#[test]
fn rfc7520_4_4_hs256() {
    let v = verifier_for(&rfc7520_hmac_key());
    assert_vector(
        &v,
        RFC7520_4_4_JWS,
        Algorithm::HS256,
        RFC7520_PAYLOAD_TEXT.as_bytes(),
    );
}

#[test]
fn rfc7520_keys_refuse_their_private_forms() {
    // Figure 2 is Figure 1 plus `d`: a verification key set must not carry private material.
    let mut private = rfc7520_ec_public();
    private["d"] = json!(RFC7520_EC_D);
    let err = Jwk::from_value(&private).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidKey);
    assert!(err.message().contains("private"), "{}", err.message());
    assert!(Jwk::from_value(&rfc7520_ec_public()).is_ok());
}

#[test]
fn rfc7520_public_keys_as_one_set() {
    // RFC 7520 gives its RSA key (Figure 3) and its EC key (Figure 1) the same kid. RFC 7517 §4.5
    // allows exactly that for keys of different types; the token's alg tells them apart.
    let set = JwkSet::from_keys(vec![
        Jwk::from_value(&rfc7520_rsa_public()).unwrap(),
        Jwk::from_value(&rfc7520_ec_public()).unwrap(),
    ])
    .unwrap();
    let v = Verifier::new(set, Validation::default());
    for (token, alg) in [
        (RFC7520_4_1_JWS, Algorithm::RS256),
        (RFC7520_4_2_JWS, Algorithm::PS384),
        (RFC7520_4_3_JWS, Algorithm::ES512),
    ] {
        let (header, payload) = v
            .verify_signature(token)
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(header.alg, alg);
        assert_eq!(payload, RFC7520_PAYLOAD_TEXT.as_bytes());
    }
}

// ---------------------------------------------------------------------------------------------
// RFC 8037 Appendix A
// ---------------------------------------------------------------------------------------------

#[test]
fn rfc8037_a3_thumbprint() {
    let jwk = Jwk::from_value(&rfc8037_public()).unwrap();
    assert_eq!(jwk.key().thumbprint(), RFC8037_THUMBPRINT);
    // Members outside the RFC 7638 required set do not change it.
    let mut with_extras = rfc8037_public();
    with_extras["kid"] = json!("k1");
    with_extras["use"] = json!("sig");
    with_extras["alg"] = json!("EdDSA");
    let jwk = Jwk::from_value(&with_extras).unwrap();
    assert_eq!(jwk.key().thumbprint(), RFC8037_THUMBPRINT);
}

#[test]
fn rfc8037_a4_a5_ed25519() {
    let v = verifier_for(&rfc8037_public());
    assert_vector(
        &v,
        RFC8037_A4_JWS,
        Algorithm::EdDSA,
        b"Example of Ed25519 signing",
    );
}

#[test]
fn rfc8037_a1_private_key_is_refused() {
    let mut private = rfc8037_public();
    private["d"] = json!(RFC8037_D);
    assert_eq!(
        Jwk::from_value(&private).unwrap_err().code(),
        ErrorCode::InvalidKey
    );
}
