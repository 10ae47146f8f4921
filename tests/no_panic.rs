//! Property tests: untrusted tokens, key sets, JWKs and PEM input never panic the parsers or the
//! verifier, and every refusal carries a code that belongs to the operation.
//!
//! Besides arbitrary bytes, strings and JSON values, the strategies build structurally plausible
//! input — base64url of JSON headers with real `alg` names and of registered claims, correctly
//! signed (HS256 with a fixed secret, ES256 with the RFC 7515 A.3 key) or not, then optionally
//! damaged by one edit — so the fuzzing reaches the signature and claim checks rather than
//! stopping at the first split or base64 check. All keys come from fixed test data.

use std::sync::LazyLock;

use base64ct::{Base64, Base64UrlUnpadded, Encoding};
use hmac::{Hmac, Mac};
use p256::ecdsa::signature::Signer as _;
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use proptest::sample::{select, Index};
use serde_json::{json, Map, Value};
use sha2::Sha256;
use spki::EncodePublicKey as _;
use tokenwarden::token::{Limits, UntrustedToken};
use tokenwarden::{Algorithm, AuthError, ErrorCode, Jwk, JwkSet, Validation, Verifier};

// ---------------------------------------------------------------------------------------------
// Fixed test keys
// ---------------------------------------------------------------------------------------------

/// The HS256 secret (32 bytes, the minimum the crate accepts for HS256).
const HS_SECRET: &[u8; 32] = b"tokenwarden/no_panic/hs256/key!!";

/// RFC 7515 A.2 RSA public key.
const RS_N: &str = concat!(
    "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL",
    "-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e",
    "-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9",
    "_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ",
);
const RS_E: &str = "AQAB";

/// RFC 7515 A.3 P-256 key; `d` signs the ES256 tokens.
const ES_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
const ES_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
const ES_D: &str = "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI";

/// RFC 7515 A.4 P-521 public key.
const P521_X: &str =
    "AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcBpXp5EOnYG_NjFZ6OvLFV1jSfS9tsz4qUxcWceqwQGk";
const P521_Y: &str =
    "ADSmRA43Z1DSNx_RvcLI87cdL07l6jQyyBXMoxVg_l2Th-x3S1WDhjDly79ajL4Kkd0AZMaZmh9ubmf63e3kyMj2";

/// RFC 8037 A.2 Ed25519 public key.
const ED_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

const HS_KID: &str = "hs";
const RS_KID: &str = "rs";
const ES_KID: &str = "es";

fn b64u(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

fn unb64u(s: &str) -> Vec<u8> {
    Base64UrlUnpadded::decode_vec(s).unwrap()
}

fn hs_jwk() -> Value {
    json!({"kty":"oct","kid":HS_KID,"alg":"HS256","k":b64u(HS_SECRET)})
}

fn rs_jwk() -> Value {
    json!({"kty":"RSA","kid":RS_KID,"alg":"RS256","n":RS_N,"e":RS_E})
}

fn es_jwk() -> Value {
    json!({"kty":"EC","kid":ES_KID,"alg":"ES256","crv":"P-256","x":ES_X,"y":ES_Y})
}

static HS_KEYS: LazyLock<JwkSet> =
    LazyLock::new(|| JwkSet::from_keys(vec![Jwk::from_value(&hs_jwk()).unwrap()]).unwrap());

static ASYM_KEYS: LazyLock<JwkSet> =
    LazyLock::new(|| JwkSet::from_json(&json!({"keys":[rs_jwk(), es_jwk()]}).to_string()).unwrap());

static ES_SIGNER: LazyLock<p256::ecdsa::SigningKey> =
    LazyLock::new(|| p256::ecdsa::SigningKey::from_slice(&unb64u(ES_D)).unwrap());

/// SPKI (and one PKCS#1) PEMs of the fixed public keys, with the JWK each must match.
static REAL_PEMS: LazyLock<Vec<(String, Value)>> = LazyLock::new(|| {
    use rsa::pkcs1::EncodeRsaPublicKey as _;
    let sec1 = |x: &str, y: &str| [vec![4u8], unb64u(x), unb64u(y)].concat();
    let rsa = rsa::RsaPublicKey::new(
        rsa::BigUint::from_bytes_be(&unb64u(RS_N)),
        rsa::BigUint::from_bytes_be(&unb64u(RS_E)),
    )
    .unwrap();
    let p256 = p256::PublicKey::from_sec1_bytes(&sec1(ES_X, ES_Y)).unwrap();
    let p521 = p521::PublicKey::from_sec1_bytes(&sec1(P521_X, P521_Y)).unwrap();
    let ed = ed25519_dalek::VerifyingKey::from_bytes(&unb64u(ED_X).try_into().unwrap()).unwrap();
    vec![
        (
            pem("PUBLIC KEY", rsa.to_public_key_der().unwrap().as_bytes()),
            json!({"kty":"RSA","n":RS_N,"e":RS_E}),
        ),
        (
            pem("RSA PUBLIC KEY", rsa.to_pkcs1_der().unwrap().as_bytes()),
            json!({"kty":"RSA","n":RS_N,"e":RS_E}),
        ),
        (
            pem("PUBLIC KEY", p256.to_public_key_der().unwrap().as_bytes()),
            json!({"kty":"EC","crv":"P-256","x":ES_X,"y":ES_Y}),
        ),
        (
            pem("PUBLIC KEY", p521.to_public_key_der().unwrap().as_bytes()),
            json!({"kty":"EC","crv":"P-521","x":P521_X,"y":P521_Y}),
        ),
        (
            pem("PUBLIC KEY", ed.to_public_key_der().unwrap().as_bytes()),
            json!({"kty":"OKP","crv":"Ed25519","x":ED_X}),
        ),
    ]
});

fn pem(label: &str, der: &[u8]) -> String {
    let body = Base64::encode_string(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

// ---------------------------------------------------------------------------------------------
// Invariants shared by the properties
// ---------------------------------------------------------------------------------------------

/// Codes `UntrustedToken::parse` and `Verifier::verify` may answer with.
const TOKEN_CODES: [ErrorCode; 12] = [
    ErrorCode::MalformedToken,
    ErrorCode::TokenTooLarge,
    ErrorCode::InvalidSignature,
    ErrorCode::UnsupportedAlgorithm,
    ErrorCode::UnknownKey,
    ErrorCode::ExpiredToken,
    ErrorCode::TokenNotYetValid,
    ErrorCode::TokenTooOld,
    ErrorCode::InvalidIssuer,
    ErrorCode::InvalidAudience,
    ErrorCode::InvalidTokenType,
    ErrorCode::InvalidClaim,
];

fn check_token_error(e: &AuthError, token: &str) -> Result<(), TestCaseError> {
    prop_assert!(TOKEN_CODES.contains(&e.code()), "unexpected code {e}");
    // Messages are fixed strings: they never echo the token.
    if token.len() >= 8 {
        prop_assert!(!e.message().contains(token));
    }
    Ok(())
}

fn check_parse(token: &str) -> Result<(), TestCaseError> {
    match UntrustedToken::parse(token, &Limits::default()) {
        Ok(u) => {
            // What parsed is exactly the token's first two parts and its decoded pieces.
            let parts: Vec<&str> = token.split('.').collect();
            prop_assert_eq!(parts.len(), 3);
            prop_assert_eq!(u.signing_input(), format!("{}.{}", parts[0], parts[1]));
            prop_assert_eq!(u.payload().to_vec(), unb64u(parts[1]));
            prop_assert_eq!(u.signature().to_vec(), unb64u(parts[2]));
            prop_assert!(!u.signature().is_empty());
            prop_assert!(Algorithm::ALL.contains(&u.header().alg));
        }
        Err(e) => check_token_error(&e, token)?,
    }
    Ok(())
}

/// Verifies with both fixed verifiers under `validation` at `now`; checks every outcome.
fn check_verify(token: &str, validation: &Validation, now: u64) -> Result<(), TestCaseError> {
    for keys in [&*HS_KEYS, &*ASYM_KEYS] {
        let v = Verifier::new(keys.clone(), validation.clone());
        match v.verify(token, now) {
            Ok(verified) => {
                // Only a token whose signature holds gets here, so it must parse the same way.
                let (header, payload) = v.verify_signature(token).unwrap();
                prop_assert_eq!(verified.header(), &header);
                let claims: Map<String, Value> = serde_json::from_slice(&payload).unwrap();
                prop_assert_eq!(verified.claims(), &claims);
            }
            Err(e) => check_token_error(&e, token)?,
        }
        if let Err(e) = v.verify_signature(token) {
            check_token_error(&e, token)?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

const ALG_NAMES: &[&str] = &[
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
    "ES384", "ES512", "EdDSA", "none", "None", "HS1", "ES256K", "", "RSA-OAEP",
];
const KIDS: &[&str] = &[HS_KID, RS_KID, ES_KID, "unknown", ""];
const MEMBER_NAMES: &[&str] = &[
    "alg",
    "kid",
    "typ",
    "cty",
    "crit",
    "b64",
    "jku",
    "jwk",
    "x5u",
    "x5c",
    "exp",
    "nbf",
    "iat",
    "iss",
    "aud",
    "sub",
    "jti",
    "scope",
    "scp",
    "permissions",
    "kty",
    "crv",
    "x",
    "y",
    "n",
    "e",
    "k",
    "d",
    "use",
    "key_ops",
    "keys",
];
const ISSUERS: &[&str] = &["https://issuer.example", "joe", ""];
const AUDIENCES: &[&str] = &["api", "https://api.example", ""];
const NOW: u64 = 1_700_000_000;

fn member_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(MEMBER_NAMES).prop_map(String::from),
        1 => "[a-z_]{1,8}",
    ]
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        "\\PC{0,16}".prop_map(Value::String),
        select(MEMBER_NAMES).prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 24, 5, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..5).prop_map(Value::Array),
            btree_map(member_name(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A NumericDate-ish value: mostly seconds in `around` (near `NOW`), sometimes anything.
fn date_value(around: std::ops::Range<u64>) -> impl Strategy<Value = Value> {
    prop_oneof![
        10 => around.prop_map(Value::from),
        2 => (NOW - 200_000..NOW + 200_000).prop_map(Value::from),
        1 => (NOW as f64 - 1e5..NOW as f64 + 1e5).prop_map(|f| json!(f)),
        1 => any::<u64>().prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => (-1e20f64..1e20f64).prop_map(|f| json!(f)),
        1 => arb_json(),
    ]
}

fn claims() -> impl Strategy<Value = Map<String, Value>> {
    (
        option::weighted(0.9, date_value(NOW + 2_000..NOW + 100_000)),
        option::weighted(0.3, date_value(NOW - 100_000..NOW - 2_000)),
        option::weighted(0.5, date_value(NOW - 10_000..NOW - 2_000)),
        option::weighted(
            0.7,
            prop_oneof![
                6 => select(ISSUERS).prop_map(Value::from),
                1 => arb_json()
            ],
        ),
        option::weighted(
            0.7,
            prop_oneof![
                3 => select(AUDIENCES).prop_map(Value::from),
                3 => vec(select(AUDIENCES), 0..3).prop_map(|a| json!(a)),
                1 => arb_json()
            ],
        ),
        option::of(prop_oneof![
            3 => "[a-z: ]{0,20}".prop_map(Value::String),
            1 => arb_json()
        ]),
        btree_map(member_name(), arb_json(), 0..4),
    )
        .prop_map(|(exp, nbf, iat, iss, aud, scope, extra)| {
            let mut m: Map<String, Value> = extra.into_iter().collect();
            for (name, v) in [
                ("exp", exp),
                ("nbf", nbf),
                ("iat", iat),
                ("iss", iss),
                ("aud", aud),
                ("scope", scope),
            ] {
                if let Some(v) = v {
                    m.insert(name.into(), v);
                }
            }
            m
        })
}

/// Header members other than `alg` and `kid`, sometimes including ones the parser refuses.
fn header_extras() -> impl Strategy<Value = Map<String, Value>> {
    let name = prop_oneof![
        4 => select(&["nonce", "iat", "x-trace", "ver"][..]).prop_map(String::from),
        1 => member_name(),
    ];
    (
        option::weighted(
            0.4,
            prop_oneof![
                6 => select(&["JWT", "at+jwt", "application/at+jwt", "jose"][..])
                    .prop_map(Value::from),
                1 => arb_json()
            ],
        ),
        btree_map(name, arb_json(), 0..3),
    )
        .prop_map(|(typ, extra)| {
            let mut m: Map<String, Value> = extra.into_iter().collect();
            m.remove("alg");
            m.remove("kid");
            if let Some(t) = typ {
                m.insert("typ".into(), t);
            }
            m
        })
}

fn encode_token(header: &[u8], payload: &[u8], sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let input = format!("{}.{}", b64u(header), b64u(payload));
    let sig = sign(input.as_bytes());
    format!("{input}.{}", b64u(&sig))
}

fn hs256(input: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(HS_SECRET).unwrap();
    mac.update(input);
    mac.finalize().into_bytes().to_vec()
}

fn es256(input: &[u8]) -> Vec<u8> {
    let sig: p256::ecdsa::Signature = ES_SIGNER.sign(input);
    sig.to_bytes().to_vec()
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Signer {
    Hs256,
    Es256,
}

/// A correctly signed token: the header names the signer's algorithm and either its kid or
/// none; claims and the other header members vary.
#[derive(Debug, Clone)]
struct SignedCase {
    signer: Signer,
    with_kid: bool,
    header: Map<String, Value>,
    claims: Map<String, Value>,
}

impl SignedCase {
    fn token(&self) -> String {
        let mut header = self.header.clone();
        let (alg, kid) = match self.signer {
            Signer::Hs256 => ("HS256", HS_KID),
            Signer::Es256 => ("ES256", ES_KID),
        };
        header.insert("alg".into(), alg.into());
        if self.with_kid {
            header.insert("kid".into(), kid.into());
        }
        let header = serde_json::to_vec(&header).unwrap();
        let payload = serde_json::to_vec(&self.claims).unwrap();
        match self.signer {
            Signer::Hs256 => encode_token(&header, &payload, hs256),
            Signer::Es256 => encode_token(&header, &payload, es256),
        }
    }

    fn algorithm(&self) -> Algorithm {
        match self.signer {
            Signer::Hs256 => Algorithm::HS256,
            Signer::Es256 => Algorithm::ES256,
        }
    }
}

fn signed_case() -> impl Strategy<Value = SignedCase> {
    (
        prop_oneof![Just(Signer::Hs256), Just(Signer::Es256)],
        any::<bool>(),
        header_extras(),
        claims(),
    )
        .prop_map(|(signer, with_kid, header, claims)| SignedCase {
            signer,
            with_kid,
            header,
            claims,
        })
}

/// Header bytes: mostly a JSON object with an alg, sometimes any JSON, bytes or deep nesting.
fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    let object = (
        prop_oneof![
            // The algorithms of the fixed keys, so signed cases get past the key choice.
            4 => select(&["HS256", "ES256", "RS256"][..]).prop_map(Value::from),
            4 => select(ALG_NAMES).prop_map(Value::from),
            1 => arb_json()
        ],
        option::weighted(
            0.6,
            prop_oneof![
                4 => select(KIDS).prop_map(Value::from),
                1 => arb_json()
            ],
        ),
        header_extras(),
        proptest::bool::weighted(0.95),
    )
        .prop_map(|(alg, kid, mut m, with_alg)| {
            if with_alg {
                m.insert("alg".into(), alg);
            }
            if let Some(kid) = kid {
                m.insert("kid".into(), kid);
            }
            serde_json::to_vec(&m).unwrap()
        });
    prop_oneof![
        8 => object,
        1 => arb_json().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        1 => vec(any::<u8>(), 0..40),
        // Nesting past the depth limit, closed or not.
        1 => (0usize..200, select(&[("[", "]"), ("{\"a\":", "}")][..]), any::<bool>())
            .prop_map(|(n, (open, close), closed)| {
                let tail = if closed { close.repeat(n) } else { String::new() };
                format!("{{\"alg\":\"HS256\",\"x\":{}1{tail}}}", open.repeat(n)).into_bytes()
            }),
    ]
}

fn payload_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => claims().prop_map(|m| serde_json::to_vec(&m).unwrap()),
        1 => arb_json().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        1 => vec(any::<u8>(), 0..40),
        // Past the 16 KiB token limit.
        1 => (12_000usize..13_000).prop_map(|n| format!("{{\"pad\":\"{}\"}}", "x".repeat(n))
            .into_bytes()),
    ]
}

#[derive(Debug, Clone)]
enum Sig {
    Hs256,
    Es256,
    Bytes(Vec<u8>),
}

#[derive(Debug, Clone)]
enum Edit {
    Keep,
    Replace(Index, char),
    Remove(Index),
    Insert(Index, char),
}

fn edit_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => select(&['A', 'z', '0', '-', '_', '.'][..]),
        1 => select(&['=', '+', '/', ' ', '\n', 'é', '\u{0}'][..]),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        6 => Just(Edit::Keep),
        1 => (any::<Index>(), edit_char()).prop_map(|(i, c)| Edit::Replace(i, c)),
        1 => any::<Index>().prop_map(Edit::Remove),
        1 => (any::<Index>(), edit_char()).prop_map(|(i, c)| Edit::Insert(i, c)),
    ]
}

fn apply(token: String, edit: &Edit) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    if chars.is_empty() {
        return token;
    }
    let len = chars.len();
    match edit {
        Edit::Keep => {}
        Edit::Replace(i, c) => chars[i.index(len)] = *c,
        Edit::Remove(i) => {
            chars.remove(i.index(len));
        }
        Edit::Insert(i, c) => chars.insert(i.index(len + 1), *c),
    }
    chars.into_iter().collect()
}

/// A structurally plausible token, maybe damaged.
fn plausible_token() -> impl Strategy<Value = String> {
    let sig = prop_oneof![
        2 => Just(Sig::Hs256),
        2 => Just(Sig::Es256),
        2 => select(vec![0usize, 1, 32, 63, 64, 65, 132, 255, 256, 257])
            .prop_flat_map(|n| vec(any::<u8>(), n))
            .prop_map(Sig::Bytes),
    ];
    (header_bytes(), payload_bytes(), sig, edit()).prop_map(|(h, p, sig, edit)| {
        let token = match sig {
            Sig::Hs256 => encode_token(&h, &p, hs256),
            Sig::Es256 => encode_token(&h, &p, es256),
            Sig::Bytes(b) => encode_token(&h, &p, |_| b.clone()),
        };
        apply(token, &edit)
    })
}

fn validation() -> impl Strategy<Value = Validation> {
    // Each restriction is off most of the time, so many correctly signed tokens pass.
    let some =
        |p: f64, n: usize| proptest::bool::weighted(p).prop_map(move |on| if on { n } else { 0 });
    (
        prop_oneof![4 => Just(60u64), 1 => Just(0), 1 => any::<u64>(), 1 => Just(u64::MAX)],
        proptest::bool::weighted(0.8),
        option::weighted(0.2, prop_oneof![0u64..1_000_000, any::<u64>()]),
        option::weighted(0.2, prop_oneof![0u64..1_000_000, any::<u64>()]),
        some(0.3, 3).prop_flat_map(|n| vec(select(Algorithm::ALL.to_vec()), n.min(1)..=n)),
        some(0.3, 2).prop_flat_map(|n| vec(select(ISSUERS).prop_map(String::from), n.min(1)..=n)),
        some(0.3, 2).prop_flat_map(|n| vec(select(AUDIENCES).prop_map(String::from), n.min(1)..=n)),
        option::weighted(
            0.2,
            select(&["JWT", "at+jwt", "application/jwt"][..]).prop_map(String::from),
        ),
        some(0.2, 2).prop_flat_map(|n| {
            vec(
                select(&["sub", "jti", "scope", "exp"][..]).prop_map(String::from),
                n.min(1)..=n,
            )
        }),
    )
        .prop_map(
            |(
                leeway,
                require_exp,
                max_lifetime,
                max_age,
                algorithms,
                issuers,
                audiences,
                typ,
                required_claims,
            )| Validation {
                algorithms,
                issuers,
                audiences,
                leeway,
                require_exp,
                max_lifetime,
                max_age,
                typ,
                required_claims,
                ..Validation::default()
            },
        )
}

fn now() -> impl Strategy<Value = u64> {
    prop_oneof![
        6 => NOW - 1_000..NOW + 1_000,
        2 => NOW - 300_000..NOW + 300_000,
        1 => any::<u64>(),
        1 => Just(0u64),
        1 => Just(u64::MAX),
    ]
}

/// base64url of `n` random bytes, `n` chosen from `lens`.
fn b64u_of_len(lens: Vec<usize>) -> impl Strategy<Value = Value> {
    select(lens)
        .prop_flat_map(|n| vec(any::<u8>(), n))
        .prop_map(|b| Value::String(b64u(&b)))
}

/// Key material for one `kty`, mostly well-shaped so loading reaches the curve, size, ROCA and
/// point checks: real public keys, random values of the right size, and wrong sizes.
fn key_members() -> impl Strategy<Value = Map<String, Value>> {
    let oct = b64u_of_len(vec![0, 16, 31, 32, 47, 48, 64, 65, 100])
        .prop_map(|k| json!({"kty": "oct", "k": k}));
    // A random 256-byte modulus with the top and bottom bits set passes the size and parity
    // checks; about one in ten also has no prime factor up to 167 and reaches the ROCA check.
    let random_n = vec(any::<u8>(), 256).prop_map(|mut n| {
        n[0] |= 0x80;
        n[255] |= 1;
        Value::String(b64u(&n))
    });
    let n = prop_oneof![
        2 => Just(Value::from(RS_N)),
        3 => random_n,
        1 => b64u_of_len(vec![0, 1, 128, 255, 257, 384, 512, 513]),
    ];
    let e = prop_oneof![
        3 => select(&["AQAB", "Aw", "AAEAAQ", "AQ", "Ag", "AAAAAQAB", "AQABAQAB", ""][..])
            .prop_map(Value::from),
        1 => b64u_of_len(vec![0, 1, 2, 3, 4, 5, 8]),
    ];
    let rsa = (n, e).prop_map(|(n, e)| json!({"kty": "RSA", "n": n, "e": e}));
    let real_ec = select(&[("P-256", ES_X, ES_Y), ("P-521", P521_X, P521_Y)][..])
        .prop_map(|(crv, x, y)| json!({"kty": "EC", "crv": crv, "x": x, "y": y}));
    let random_ec = (
        select(&[("P-256", 32usize), ("P-384", 48), ("P-521", 66)][..]),
        any::<bool>(),
    )
        .prop_flat_map(|((crv, size), exact)| {
            let len = if exact { size..size + 1 } else { 0..size + 3 };
            (
                Just(crv),
                vec(any::<u8>(), len.clone()),
                vec(any::<u8>(), len),
            )
        })
        .prop_map(|(crv, x, y)| json!({"kty": "EC", "crv": crv, "x": b64u(&x), "y": b64u(&y)}));
    let mixed_ec = (
        select(&["P-256", "P-384", "P-521", "secp256k1", "Ed25519"][..]),
        select(&[ES_X, ES_Y, P521_X, P521_Y, ED_X][..]),
        select(&[ES_X, ES_Y, P521_X, P521_Y, ED_X][..]),
    )
        .prop_map(|(crv, x, y)| json!({"kty": "EC", "crv": crv, "x": x, "y": y}));
    let okp = (
        prop_oneof![
            4 => Just("Ed25519"),
            1 => select(&["X25519", "Ed448", ""][..])
        ],
        prop_oneof![
            2 => Just(Value::from(ED_X)),
            3 => b64u_of_len(vec![32]),
            1 => b64u_of_len(vec![0, 31, 33, 57]),
        ],
    )
        .prop_map(|(crv, x)| json!({"kty": "OKP", "crv": crv, "x": x}));
    prop_oneof![
        2 => oct,
        3 => rsa,
        2 => real_ec,
        3 => random_ec,
        1 => mixed_ec,
        2 => okp,
    ]
    .prop_map(|v| match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    })
}

/// A JWK: well-shaped key material with the optional members varied, or anything at all in the
/// members the loader reads.
fn plausible_jwk() -> impl Strategy<Value = Value> {
    let use_ = prop_oneof![
        4 => Just(Value::from("sig")),
        1 => select(&["enc", ""][..]).prop_map(Value::from),
        1 => arb_json(),
    ];
    let key_ops = prop_oneof![
        3 => vec(
            select(&["sign", "verify", "encrypt", "wrapKey", "custom"][..]).prop_map(Value::from),
            0..3
        )
        .prop_map(Value::Array),
        1 => arb_json(),
    ];
    let alg = prop_oneof![
        4 => select(ALG_NAMES).prop_map(Value::from),
        1 => arb_json(),
    ];
    let kid = prop_oneof![
        4 => select(KIDS).prop_map(Value::from),
        1 => arb_json(),
    ];
    let private = (
        select(&["d", "p", "q", "dp", "dq", "qi", "oth"][..]),
        b64u_of_len(vec![32, 66]),
    );
    // Noise: one loader-relevant member replaced by any JSON value.
    let noise = (
        select(&["kty", "crv", "x", "y", "n", "e", "k"][..]),
        arb_json(),
    );
    (
        key_members(),
        option::weighted(0.25, use_),
        option::weighted(0.2, key_ops),
        option::weighted(0.5, alg),
        option::weighted(0.7, kid),
        option::weighted(0.1, private),
        option::weighted(0.15, noise),
    )
        .prop_map(|(mut m, use_, key_ops, alg, kid, private, noise)| {
            for (name, v) in [
                ("use", use_),
                ("key_ops", key_ops),
                ("alg", alg),
                ("kid", kid),
            ] {
                if let Some(v) = v {
                    m.insert(name.into(), v);
                }
            }
            for (name, v) in [private, noise].into_iter().flatten() {
                m.insert(name.into(), v);
            }
            Value::Object(m)
        })
}

fn jwks_document() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => vec(plausible_jwk(), 0..5).prop_map(|keys| json!({ "keys": keys }).to_string()),
        1 => arb_json().prop_map(|keys| json!({ "keys": keys }).to_string()),
        1 => arb_json().prop_map(|v| v.to_string()),
        1 => "\\PC{0,64}",
    ]
}

fn check_key_error(e: &AuthError) -> Result<(), TestCaseError> {
    prop_assert_eq!(e.code(), ErrorCode::InvalidKey, "{}", e);
    Ok(())
}

fn check_jwk(v: &Value) -> Result<(), TestCaseError> {
    match Jwk::from_value(v) {
        Ok(jwk) => {
            let tp = jwk.key().thumbprint();
            prop_assert_eq!(tp.len(), 43);
            prop_assert_eq!(unb64u(&tp).len(), 32);
            if let Some(a) = jwk.alg() {
                prop_assert!(jwk.allows(a));
                prop_assert_eq!(v.get("alg").and_then(Value::as_str), Some(a.name()));
            }
            prop_assert_eq!(jwk.kid(), v.get("kid").and_then(Value::as_str));
            // Loading never accepts private key material.
            let private: &[&str] = match v.get("kty").and_then(Value::as_str) {
                Some("RSA") => &["d", "p", "q", "dp", "dq", "qi", "oth"],
                Some("EC" | "OKP") => &["d"],
                _ => &[],
            };
            for m in private {
                prop_assert!(v.get(*m).is_none(), "accepted a key with {}", m);
            }
        }
        Err(e) => check_key_error(&e)?,
    }
    Ok(())
}

fn check_jwks(doc: &str) -> Result<(), TestCaseError> {
    match JwkSet::from_json_lenient(doc) {
        Ok(set) => {
            let listed = serde_json::from_str::<Value>(doc).unwrap()["keys"]
                .as_array()
                .unwrap()
                .len();
            prop_assert_eq!(set.len() + set.skipped().len(), listed);
            let mut last = None;
            for s in set.skipped() {
                prop_assert!(s.index < listed);
                prop_assert!(last.is_none_or(|l| l < s.index));
                last = Some(s.index);
                check_key_error(&s.error)?;
            }
            // The strict loader agrees: it fails exactly when something was skipped.
            prop_assert_eq!(JwkSet::from_json(doc).is_ok(), set.skipped().is_empty());
        }
        Err(e) => check_key_error(&e)?,
    }
    Ok(())
}

fn check_pem(pem: &str) -> Result<(), TestCaseError> {
    match Jwk::from_pem(pem) {
        Ok(jwk) => {
            prop_assert_eq!(jwk.key().thumbprint().len(), 43);
            prop_assert!(jwk.kid().is_none() && jwk.alg().is_none());
        }
        Err(e) => check_key_error(&e)?,
    }
    Ok(())
}

/// A PEM-shaped string: a real key's DER damaged by a few byte changes and maybe truncated, or
/// random bytes, under a label the loader knows or refuses.
fn pem_like() -> impl Strategy<Value = String> {
    let label = || {
        select(
            &[
                "PUBLIC KEY",
                "RSA PUBLIC KEY",
                "EC PUBLIC KEY",
                "PRIVATE KEY",
                "CERTIFICATE",
            ][..],
        )
    };
    let damaged_real = (
        any::<Index>(),
        vec((any::<Index>(), any::<u8>()), 0..3),
        option::of(any::<Index>()),
    )
        .prop_map(|(which, flips, cut)| {
            let (real, _) = &REAL_PEMS[which.index(REAL_PEMS.len())];
            let label = real
                .lines()
                .next()
                .unwrap()
                .trim_start_matches("-----BEGIN ")
                .trim_end_matches("-----")
                .to_owned();
            let b64: String = real.lines().filter(|l| !l.starts_with("-----")).collect();
            let mut der = Base64::decode_vec(&b64).unwrap();
            for (i, b) in flips {
                let i = i.index(der.len());
                der[i] ^= b;
            }
            if let Some(cut) = cut {
                der.truncate(cut.index(der.len() + 1));
            }
            pem(&label, &der)
        });
    prop_oneof![
        4 => damaged_real,
        2 => (label(), vec(any::<u8>(), 0..200)).prop_map(|(l, der)| pem(l, &der)),
        1 => "\\PC{0,100}",
        1 => (label(), "[A-Za-z0-9+/=\\n ]{0,120}")
            .prop_map(|(l, body)| format!("-----BEGIN {l}-----\n{body}\n-----END {l}-----")),
    ]
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

/// 2048 cases per property: about 2 s for the whole file in a debug build (the dev profile
/// optimises the crypto dependencies). `PROPTEST_CASES` overrides it for a longer local run.
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2048);
    ProptestConfig::with_cases(cases)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_strings_never_panic_the_token_path(
        s in prop_oneof!["\\PC{0,200}", "[A-Za-z0-9_.=+/-]{0,200}"],
        validation in validation(),
        now in now(),
    ) {
        check_parse(&s)?;
        check_verify(&s, &validation, now)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic_anything(bytes in vec(any::<u8>(), 0..300), now in now()) {
        let s = String::from_utf8_lossy(&bytes);
        check_parse(&s)?;
        check_verify(&s, &Validation::default(), now)?;
        check_jwks(&s)?;
        check_pem(&s)?;
    }

    #[test]
    fn plausible_tokens_never_panic(token in plausible_token(), validation in validation(), now in now()) {
        check_parse(&token)?;
        check_verify(&token, &validation, now)?;
    }

    #[test]
    fn correctly_signed_tokens_fail_only_on_claims_or_header(
        case in signed_case(),
        validation in validation(),
        now in now(),
    ) {
        let token = case.token();
        let keys = match case.signer {
            Signer::Hs256 => &*HS_KEYS,
            Signer::Es256 => &*ASYM_KEYS,
        };
        let v = Verifier::new(keys.clone(), validation.clone());
        match v.verify(&token, now) {
            Ok(verified) => {
                prop_assert_eq!(verified.header().alg, case.algorithm());
                let claims: Map<String, Value> =
                    serde_json::from_slice(&serde_json::to_vec(&case.claims).unwrap()).unwrap();
                prop_assert_eq!(verified.claims(), &claims);
            }
            Err(e) => {
                check_token_error(&e, &token)?;
                // The signature holds and the kid is right (or absent): the refusal is never
                // about the signature or the key, and about the algorithm only when the validation
                // leaves it out.
                prop_assert_ne!(e.code(), ErrorCode::InvalidSignature, "{}", e);
                prop_assert_ne!(e.code(), ErrorCode::UnknownKey, "{}", e);
                if e.code() == ErrorCode::UnsupportedAlgorithm {
                    prop_assert!(
                        !validation.algorithms.is_empty()
                            && !validation.algorithms.contains(&case.algorithm())
                    );
                }
            }
        }
    }

    #[test]
    fn arbitrary_json_values_never_panic_the_key_loaders(v in arb_json()) {
        check_jwk(&v)?;
        check_jwks(&v.to_string())?;
    }

    #[test]
    fn plausible_jwks_never_panic(doc in jwks_document()) {
        check_jwks(&doc)?;
        if let Ok(Value::Object(m)) = serde_json::from_str::<Value>(&doc) {
            if let Some(Value::Array(keys)) = m.get("keys") {
                for k in keys {
                    check_jwk(k)?;
                }
            }
        }
    }

    #[test]
    fn pem_like_input_never_panics(pem in pem_like()) {
        check_pem(&pem)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Controls: the fixed data behaves, so the properties above exercise what they claim to
// ---------------------------------------------------------------------------------------------

#[test]
fn the_es256_signer_matches_the_published_key() {
    let point = ES_SIGNER.verifying_key().to_encoded_point(false);
    assert_eq!(b64u(point.x().unwrap()), ES_X);
    assert_eq!(b64u(point.y().unwrap()), ES_Y);
}

#[test]
fn signed_cases_verify_when_the_claims_allow() {
    for signer in [Signer::Hs256, Signer::Es256] {
        let case = SignedCase {
            signer,
            with_kid: true,
            header: Map::new(),
            claims: json!({"exp": NOW + 10, "sub": "a"})
                .as_object()
                .unwrap()
                .clone(),
        };
        let keys = match signer {
            Signer::Hs256 => &*HS_KEYS,
            Signer::Es256 => &*ASYM_KEYS,
        };
        let v = Verifier::new(keys.clone(), Validation::default());
        let verified = v.verify(&case.token(), NOW).unwrap();
        assert_eq!(verified.sub(), Some("a"));
        // The other verifier has no key for it.
        let other = match signer {
            Signer::Hs256 => &*ASYM_KEYS,
            Signer::Es256 => &*HS_KEYS,
        };
        let err = Verifier::new(other.clone(), Validation::default())
            .verify(&case.token(), NOW)
            .unwrap_err();
        assert!(
            matches!(
                err.code(),
                ErrorCode::UnknownKey | ErrorCode::UnsupportedAlgorithm
            ),
            "{err}"
        );
    }
}

#[test]
fn real_pems_load_as_the_same_keys_as_their_jwks() {
    for (pem, jwk) in REAL_PEMS.iter() {
        let from_pem = Jwk::from_pem(pem).unwrap_or_else(|e| panic!("{e}\n{pem}"));
        let from_jwk = Jwk::from_value(jwk).unwrap();
        assert_eq!(from_pem.key().thumbprint(), from_jwk.key().thumbprint());
    }
}
