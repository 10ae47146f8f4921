//! Signing keys and token minting, for tests, demos, the CLI and services that issue their own
//! short-lived tokens. Verification never depends on this module.

use std::borrow::Cow;

use base64ct::{Base64UrlUnpadded, Encoding};
use jwt_compact::{alg as jc, Algorithm as _, AlgorithmSignature as _};
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::{BigUint, RsaPrivateKey};
use serde_json::{Map, Value};

use crate::alg::{Algorithm, Es384, Es512};
use crate::error::{AuthError, ErrorCode};
use crate::jwks::Jwk;
use crate::key::{KeyFamily, VerifyingKey};

enum Secret {
    Oct(Vec<u8>),
    Rsa(Box<RsaPrivateKey>),
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    P521(p521::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
}

/// A private key bound to one algorithm, with an optional `kid`.
pub struct SigningKey {
    alg: Algorithm,
    kid: Option<String>,
    secret: Secret,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SigningKey({}, kid={:?}, <redacted>)",
            self.alg, self.kid
        )
    }
}

fn invalid(msg: &'static str) -> AuthError {
    AuthError::with_message(ErrorCode::InvalidKey, msg)
}

fn b64(bytes: &[u8]) -> Value {
    Value::String(Base64UrlUnpadded::encode_string(bytes))
}

impl SigningKey {
    /// Generates a fresh key for `alg` from the system CSPRNG (RSA: 2048 bits; HMAC: a secret
    /// as long as the hash output).
    pub fn generate(alg: Algorithm, kid: Option<String>) -> Result<SigningKey, AuthError> {
        let mut rng = crate::random::rng();
        let secret = match alg {
            Algorithm::HS256 => Secret::Oct(crate::random::bytes::<32>()?.to_vec()),
            Algorithm::HS384 => Secret::Oct(crate::random::bytes::<48>()?.to_vec()),
            Algorithm::HS512 => Secret::Oct(crate::random::bytes::<64>()?.to_vec()),
            Algorithm::ES256 => Secret::P256(p256::ecdsa::SigningKey::random(&mut rng)),
            Algorithm::ES384 => Secret::P384(p384::ecdsa::SigningKey::random(&mut rng)),
            Algorithm::ES512 => Secret::P521(p521::ecdsa::SigningKey::random(&mut rng)),
            Algorithm::EdDSA => Secret::Ed25519(ed25519_dalek::SigningKey::generate(&mut rng)),
            _ => Secret::Rsa(Box::new(
                RsaPrivateKey::new(&mut rng, 2048)
                    .map_err(|_| invalid("RSA key generation failed"))?,
            )),
        };
        Ok(SigningKey { alg, kid, secret })
    }

    /// Reads a private JWK. Its `alg` is required: a signing key is always bound to one algorithm.
    pub fn from_jwk(v: &Value) -> Result<SigningKey, AuthError> {
        let obj = v
            .as_object()
            .ok_or_else(|| invalid("a JWK must be a JSON object"))?;
        let alg = obj
            .get("alg")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("a signing JWK needs an alg"))
            .and_then(|a| Algorithm::from_name(a).map_err(|_| invalid("unsupported alg")))?;
        // The key's own type must be the alg's (RFC 7517 §4.1, RFC 7518 §6): a key read as another
        // kind than it says it is, is refused rather than reinterpreted.
        let (kty, crv) = match alg.family() {
            KeyFamily::Oct => ("oct", None),
            KeyFamily::Rsa => ("RSA", None),
            KeyFamily::P256 => ("EC", Some("P-256")),
            KeyFamily::P384 => ("EC", Some("P-384")),
            KeyFamily::P521 => ("EC", Some("P-521")),
            KeyFamily::Ed25519 => ("OKP", Some("Ed25519")),
        };
        if obj.get("kty").and_then(Value::as_str) != Some(kty)
            || crv.is_some_and(|c| obj.get("crv").and_then(Value::as_str) != Some(c))
        {
            return Err(invalid("the JWK's kty (and crv) do not match its alg"));
        }
        let kid = obj.get("kid").and_then(Value::as_str).map(str::to_owned);
        let bytes = |name: &str| -> Result<Vec<u8>, AuthError> {
            obj.get(name)
                .and_then(Value::as_str)
                .and_then(|s| Base64UrlUnpadded::decode_vec(s).ok())
                .ok_or_else(|| invalid("a private key member is missing or not base64url"))
        };
        let secret = match alg.family() {
            KeyFamily::Oct => Secret::Oct(bytes("k")?),
            KeyFamily::Rsa => {
                let int = |name: &str| bytes(name).map(|b| BigUint::from_bytes_be(&b));
                let primes = match (int("p"), int("q")) {
                    (Ok(p), Ok(q)) => vec![p, q],
                    _ => Vec::new(),
                };
                let key = RsaPrivateKey::from_components(int("n")?, int("e")?, int("d")?, primes)
                    .map_err(|_| invalid("inconsistent RSA private key"))?;
                key.validate()
                    .map_err(|_| invalid("inconsistent RSA private key"))?;
                Secret::Rsa(Box::new(key))
            }
            KeyFamily::P256 => Secret::P256(
                p256::ecdsa::SigningKey::from_slice(&bytes("d")?)
                    .map_err(|_| invalid("invalid P-256 private key"))?,
            ),
            KeyFamily::P384 => Secret::P384(
                p384::ecdsa::SigningKey::from_slice(&bytes("d")?)
                    .map_err(|_| invalid("invalid P-384 private key"))?,
            ),
            KeyFamily::P521 => Secret::P521(
                p521::ecdsa::SigningKey::from_slice(&bytes("d")?)
                    .map_err(|_| invalid("invalid P-521 private key"))?,
            ),
            KeyFamily::Ed25519 => {
                let d: [u8; 32] = bytes("d")?
                    .try_into()
                    .map_err(|_| invalid("Ed25519 d must be 32 bytes"))?;
                Secret::Ed25519(ed25519_dalek::SigningKey::from_bytes(&d))
            }
        };
        let key = SigningKey { alg, kid, secret };
        // Refuse keys that the verifier would refuse (short secrets, small RSA, ...).
        key.verifying_jwk()?;
        Ok(key)
    }

    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The matching verification key, as the verifier would load it.
    pub fn verifying_jwk(&self) -> Result<Jwk, AuthError> {
        Jwk::from_value(&self.public_jwk())
    }

    /// The public JWK (`use: sig`, `alg`, `kid`). For HMAC keys this is the secret itself.
    pub fn public_jwk(&self) -> Value {
        Value::Object(self.public_map())
    }

    fn public_map(&self) -> Map<String, Value> {
        let mut m = match &self.secret {
            Secret::Oct(k) => {
                let mut m = Map::new();
                m.insert("kty".into(), "oct".into());
                m.insert("k".into(), b64(k));
                m
            }
            Secret::Rsa(k) => {
                let mut m = Map::new();
                m.insert("kty".into(), "RSA".into());
                m.insert("n".into(), b64(&k.n().to_bytes_be()));
                m.insert("e".into(), b64(&k.e().to_bytes_be()));
                m
            }
            Secret::P256(k) => VerifyingKey::P256(*k.verifying_key()).public_members(),
            Secret::P384(k) => VerifyingKey::P384(*k.verifying_key()).public_members(),
            Secret::P521(k) => {
                VerifyingKey::P521(p521::ecdsa::VerifyingKey::from(k)).public_members()
            }
            Secret::Ed25519(k) => VerifyingKey::Ed25519(k.verifying_key()).public_members(),
        };
        m.insert("use".into(), "sig".into());
        m.insert("alg".into(), self.alg.name().into());
        if let Some(kid) = &self.kid {
            m.insert("kid".into(), kid.as_str().into());
        }
        m
    }

    /// The private JWK, for storing a generated key.
    pub fn private_jwk(&self) -> Value {
        let mut m = self.public_map();
        match &self.secret {
            Secret::Oct(_) => {}
            Secret::Rsa(k) => {
                m.insert("d".into(), b64(&k.d().to_bytes_be()));
                if let [p, q] = k.primes() {
                    m.insert("p".into(), b64(&p.to_bytes_be()));
                    m.insert("q".into(), b64(&q.to_bytes_be()));
                    let one = BigUint::from(1u8);
                    m.insert("dp".into(), b64(&(k.d() % (p - &one)).to_bytes_be()));
                    m.insert("dq".into(), b64(&(k.d() % (q - &one)).to_bytes_be()));
                    if let Some(qi) = k.qinv().and_then(|qi| qi.to_biguint()) {
                        m.insert("qi".into(), b64(&qi.to_bytes_be()));
                    }
                }
            }
            Secret::P256(k) => {
                m.insert("d".into(), b64(&k.to_bytes()));
            }
            Secret::P384(k) => {
                m.insert("d".into(), b64(&k.to_bytes()));
            }
            Secret::P521(k) => {
                m.insert("d".into(), b64(&k.to_bytes()));
            }
            Secret::Ed25519(k) => {
                m.insert("d".into(), b64(k.as_bytes()));
            }
        }
        Value::Object(m)
    }

    /// Signs `signing_input` with this key's algorithm.
    pub fn sign_bytes(&self, signing_input: &[u8]) -> Result<Vec<u8>, AuthError> {
        let sig: Cow<'_, [u8]> = match (&self.secret, self.alg) {
            (Secret::Oct(k), Algorithm::HS256) => Cow::Owned(
                jc::Hs256
                    .sign(&jc::Hs256Key::new(k), signing_input)
                    .as_bytes()
                    .to_vec(),
            ),
            (Secret::Oct(k), Algorithm::HS384) => Cow::Owned(
                jc::Hs384
                    .sign(&jc::Hs384Key::new(k), signing_input)
                    .as_bytes()
                    .to_vec(),
            ),
            (Secret::Oct(k), Algorithm::HS512) => Cow::Owned(
                jc::Hs512
                    .sign(&jc::Hs512Key::new(k), signing_input)
                    .as_bytes()
                    .to_vec(),
            ),
            (Secret::Rsa(k), alg) => {
                let rsa = jc::Rsa::with_name(alg.name());
                Cow::Owned(rsa.sign(k, signing_input).as_bytes().to_vec())
            }
            (Secret::P256(k), Algorithm::ES256) => {
                Cow::Owned(jc::Es256.sign(k, signing_input).as_bytes().to_vec())
            }
            (Secret::P384(k), Algorithm::ES384) => {
                Cow::Owned(Es384.sign(k, signing_input).as_bytes().to_vec())
            }
            (Secret::P521(k), Algorithm::ES512) => {
                Cow::Owned(Es512.sign(k, signing_input).as_bytes().to_vec())
            }
            (Secret::Ed25519(k), Algorithm::EdDSA) => {
                Cow::Owned(jc::Ed25519.sign(k, signing_input).as_bytes().to_vec())
            }
            _ => return Err(invalid("the key does not match its algorithm")),
        };
        Ok(sig.into_owned())
    }

    /// Mints a compact JWS: header `{"alg","kid","typ"}` plus `extra_header`, payload `claims`.
    pub fn mint(
        &self,
        claims: &Map<String, Value>,
        typ: Option<&str>,
        extra_header: &Map<String, Value>,
    ) -> Result<String, AuthError> {
        let mut header = extra_header.clone();
        header.insert("alg".into(), self.alg.name().into());
        if let Some(kid) = &self.kid {
            header.insert("kid".into(), kid.as_str().into());
        }
        if let Some(typ) = typ {
            header.insert("typ".into(), typ.into());
        }
        let input = format!(
            "{}.{}",
            Base64UrlUnpadded::encode_string(Value::Object(header).to_string().as_bytes()),
            Base64UrlUnpadded::encode_string(Value::Object(claims.clone()).to_string().as_bytes())
        );
        let sig = self.sign_bytes(input.as_bytes())?;
        Ok(format!(
            "{input}.{}",
            Base64UrlUnpadded::encode_string(&sig)
        ))
    }
}
