//! The key format: prefixes (type and environment), the random body and its checksum, parsing,
//! generation, and the hash a store keeps instead of the key.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::invalid_config;
use crate::error::{AuthError, ErrorCode};

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const RANDOM_LEN: usize = 32;
const CHECKSUM_LEN: usize = 6;
const BODY_LEN: usize = RANDOM_LEN + CHECKSUM_LEN;
const MAX_PREFIX_LEN: usize = 32;
/// Minted keys are exactly this long at most.
const MAX_KEY_LEN: usize = MAX_PREFIX_LEN + BODY_LEN;
/// Longest body of an imported key (a platform's own format).
const MAX_IMPORTED_BODY: usize = 256;
/// Presented keys longer than this are refused before any other work.
const MAX_PRESENTED_LEN: usize = MAX_PREFIX_LEN + MAX_IMPORTED_BODY;
/// Random characters shown after the prefix in listings.
pub(super) const DISPLAY_RANDOM_CHARS: usize = 4;
const HASH_PREFIX: &str = "sha256:";

/// What a key may do; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum KeyType {
    /// `sk`: full access.
    #[serde(rename = "sk")]
    Secret,
    /// `pk`: read-only, safe to embed in a client.
    #[serde(rename = "pk")]
    Public,
    /// `rk`: exactly the listed permissions.
    #[serde(rename = "rk")]
    Restricted,
}

impl KeyType {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Secret => "sk",
            KeyType::Public => "pk",
            KeyType::Restricted => "rk",
        }
    }
}

/// Keeps test keys out of production and the other way round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    Live,
    Test,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Live => "live",
            Environment::Test => "test",
        }
    }
}

/// A key prefix and the type and environment it stands for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyPrefix {
    prefix: String,
    key_type: KeyType,
    environment: Environment,
    /// Keys a platform issued in its own format are accepted too (looked up by hash only).
    imported: Option<ImportedFormat>,
}

/// The body of keys a platform issued before tokenwarden: letters, digits, `_` and `-`, within
/// a length range. Such a key proves nothing by its shape; only its hash in the store does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ImportedFormat {
    pub min_len: usize,
    pub max_len: usize,
}

impl ImportedFormat {
    /// Whether `body` (the key after its prefix) has this format.
    pub fn fits(&self, body: &str) -> bool {
        (self.min_len..=self.max_len).contains(&body.len())
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    }
}

impl KeyPrefix {
    /// A custom prefix: 2-32 characters of letters, digits, `_` and `-`, ending in `_` so the
    /// boundary with the base62 body is unambiguous.
    pub fn new(
        prefix: &str,
        key_type: KeyType,
        environment: Environment,
    ) -> Result<KeyPrefix, AuthError> {
        let well_formed = (2..=MAX_PREFIX_LEN).contains(&prefix.len())
            && prefix.ends_with('_')
            && prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !well_formed {
            return Err(invalid_config(
                "API key prefixes must be 2-32 characters of letters, digits, _ and -, ending in _",
            ));
        }
        Ok(KeyPrefix {
            prefix: prefix.to_string(),
            key_type,
            environment,
            imported: None,
        })
    }

    /// Also accepts keys of this prefix in a platform's own format (`min_len..=max_len` body
    /// characters of letters, digits, `_` and `-`), found by their hash in the store; minted
    /// keys keep the checksum.
    pub fn with_imported(mut self, format: ImportedFormat) -> Result<KeyPrefix, AuthError> {
        if format.min_len == 0
            || format.min_len > format.max_len
            || format.max_len > MAX_IMPORTED_BODY
        {
            return Err(invalid_config(
                "imported key lengths: 1 <= min_length <= max_length <= 256",
            ));
        }
        self.imported = Some(format);
        Ok(self)
    }

    pub fn imported(&self) -> Option<ImportedFormat> {
        self.imported
    }

    /// `sk_live_`, `pk_test_` and so on.
    pub fn standard(key_type: KeyType, environment: Environment) -> KeyPrefix {
        KeyPrefix {
            prefix: format!("{}_{}_", key_type.as_str(), environment.as_str()),
            key_type,
            environment,
            imported: None,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.prefix
    }

    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    pub fn environment(&self) -> Environment {
        self.environment
    }
}

/// The prefixes a deployment recognises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPrefixes {
    pub(super) entries: Vec<KeyPrefix>,
}

impl KeyPrefixes {
    /// The six standard prefixes (`sk_live_` ... `rk_test_`).
    pub fn standard() -> KeyPrefixes {
        let mut entries = Vec::new();
        for key_type in [KeyType::Secret, KeyType::Public, KeyType::Restricted] {
            for environment in [Environment::Live, Environment::Test] {
                entries.push(KeyPrefix::standard(key_type, environment));
            }
        }
        KeyPrefixes { entries }
    }

    /// No prefixes, for deployments that accept only custom ones.
    pub fn none() -> KeyPrefixes {
        KeyPrefixes {
            entries: Vec::new(),
        }
    }

    /// Adds a custom prefix; a prefix already present is refused even with the same meaning,
    /// except a standard one given again to accept imported keys.
    pub fn with_prefix(mut self, prefix: KeyPrefix) -> Result<KeyPrefixes, AuthError> {
        let position = self.entries.iter().position(|p| p.prefix == prefix.prefix);
        match position {
            None => self.entries.push(prefix),
            Some(i) => {
                let known = &self.entries[i];
                let upgrade = known.imported.is_none()
                    && prefix.imported.is_some()
                    && known.key_type == prefix.key_type
                    && known.environment == prefix.environment;
                if !upgrade {
                    return Err(invalid_config("API key prefix is configured twice"));
                }
                self.entries[i] = prefix;
            }
        }
        Ok(self)
    }

    pub fn find(&self, prefix: &str) -> Option<&KeyPrefix> {
        self.entries.iter().find(|p| p.prefix == prefix)
    }
}

impl Default for KeyPrefixes {
    fn default() -> Self {
        KeyPrefixes::standard()
    }
}

/// What a well-formed key says about itself, before any store lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedApiKey {
    prefix: KeyPrefix,
    display_prefix: String,
}

impl ParsedApiKey {
    pub fn key_type(&self) -> KeyType {
        self.prefix.key_type
    }

    pub fn environment(&self) -> Environment {
        self.prefix.environment
    }

    pub fn prefix(&self) -> &str {
        &self.prefix.prefix
    }

    /// The prefix plus the first 4 random characters: enough to tell keys apart in a listing,
    /// too little to matter for the secret.
    pub fn display_prefix(&self) -> &str {
        &self.display_prefix
    }
}

/// Mints a new key. The returned string is the only copy of the secret.
pub fn generate(prefix: &KeyPrefix) -> Result<(String, ParsedApiKey), AuthError> {
    let random = random_base62(RANDOM_LEN)?;
    let mut key = String::with_capacity(prefix.prefix.len() + BODY_LEN);
    key.push_str(&prefix.prefix);
    key.push_str(&random);
    key.push_str(&checksum(key.as_bytes()));
    let display_prefix = format!("{}{}", prefix.prefix, random_head(&random));
    Ok((
        key,
        ParsedApiKey {
            prefix: prefix.clone(),
            display_prefix,
        },
    ))
}

/// Accepts `<known prefix><32 base62><6 base62 checksum>`, or a key of a prefix configured for
/// imported keys in that platform's format; anything else, including surrounding whitespace, is
/// `invalid_api_key`.
pub fn parse(key: &str, prefixes: &KeyPrefixes) -> Result<ParsedApiKey, AuthError> {
    if key.len() > MAX_PRESENTED_LEN || !key.is_ascii() {
        return Err(malformed());
    }
    parse_minted(key, prefixes).or_else(|e| parse_imported(key, prefixes).ok_or(e))
}

/// A key of a platform's own format: the longest imported prefix it starts with, and a body
/// within that prefix's bounds.
fn parse_imported(key: &str, prefixes: &KeyPrefixes) -> Option<ParsedApiKey> {
    let prefix = prefixes
        .entries
        .iter()
        .filter(|p| p.imported.is_some() && key.starts_with(&p.prefix))
        .max_by_key(|p| p.prefix.len())?;
    let format = prefix.imported?;
    let body = &key[prefix.prefix.len()..];
    format.fits(body).then(|| ParsedApiKey {
        prefix: prefix.clone(),
        display_prefix: format!("{}{}", prefix.prefix, imported_head(body)),
    })
}

/// The characters of an imported key's body shown in listings: its first four letters or
/// digits position for position, `*` for anything else (and for a body only known by its hash).
pub fn imported_head(body: &str) -> String {
    let mut head: String = body
        .chars()
        .take(DISPLAY_RANDOM_CHARS)
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '*' })
        .collect();
    while head.len() < DISPLAY_RANDOM_CHARS {
        head.push('*');
    }
    head
}

fn parse_minted(key: &str, prefixes: &KeyPrefixes) -> Result<ParsedApiKey, AuthError> {
    if key.len() > MAX_KEY_LEN || key.len() <= BODY_LEN {
        return Err(malformed());
    }
    let (prefix_text, body) = key.split_at(key.len() - BODY_LEN);
    let (random, check) = body.split_at(RANDOM_LEN);
    if !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(malformed());
    }
    let prefix = prefixes.find(prefix_text).ok_or_else(malformed)?;
    let signed = key.get(..key.len() - CHECKSUM_LEN).ok_or_else(malformed)?;
    if checksum(signed.as_bytes()) != check {
        return Err(malformed());
    }
    Ok(ParsedApiKey {
        prefix: prefix.clone(),
        display_prefix: format!("{prefix_text}{}", random_head(random)),
    })
}

/// For code that runs where its users can read it (browsers, mobile apps): only publishable
/// `pk_` keys. A secret or restricted key, or anything that looks like one, is refused before it
/// is sent anywhere, with a message that says why.
pub fn require_publishable(key: &str) -> Result<ParsedApiKey, AuthError> {
    let secret = || {
        invalid_config(
            "secret (sk_) and restricted (rk_) API keys must stay on a server; use a pk_ key here",
        )
    };
    if key.starts_with("sk_") || key.starts_with("rk_") {
        return Err(secret());
    }
    let parsed = parse(key, &KeyPrefixes::standard())?;
    if parsed.key_type() != KeyType::Public {
        return Err(secret());
    }
    Ok(parsed)
}

/// The stored form of a key: `sha256:` and 64 lowercase hex digits.
pub fn hash_key(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    format!("{HASH_PREFIX}{}", base16ct::lower::encode_string(&digest))
}

/// Only the canonical lowercase form is accepted, so one key has exactly one stored hash.
pub(super) fn parse_hash(text: &str) -> Option<[u8; 32]> {
    let hex = text.strip_prefix(HASH_PREFIX)?;
    let mut out = [0u8; 32];
    base16ct::lower::decode(hex, &mut out)
        .ok()
        .filter(|d| d.len() == 32)?;
    Some(out)
}

fn malformed() -> AuthError {
    AuthError::with_message(ErrorCode::InvalidApiKey, "The API key is malformed")
}

fn random_head(random: &str) -> &str {
    random.get(..DISPLAY_RANDOM_CHARS).unwrap_or(random)
}

/// Six base62 digits of the CRC32, most significant first.
pub(super) fn checksum(data: &[u8]) -> String {
    let mut value = crc32(data);
    let mut digits = [b'0'; CHECKSUM_LEN];
    for digit in digits.iter_mut().rev() {
        *digit = BASE62[(value % 62) as usize];
        value /= 62;
    }
    digits.iter().map(|&b| char::from(b)).collect()
}

/// CRC-32 (IEEE 802.3, the zlib/PNG one), a bit at a time: a key is ~40 bytes, and the 16 KiB of
/// tables a faster CRC carries would be a sixth of the browser build's download.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

/// Uniform base62 by rejection sampling: bytes >= 248 (= 4 * 62) are discarded, so `b % 62`
/// has no bias. A generator that keeps producing rejected bytes is treated as failed.
pub(super) fn random_base62(len: usize) -> Result<String, AuthError> {
    let mut out = String::with_capacity(len);
    for _ in 0..8 {
        for b in crate::random::bytes::<64>()? {
            if b < 248 {
                out.push(char::from(BASE62[usize::from(b % 62)]));
                if out.len() == len {
                    return Ok(out);
                }
            }
        }
    }
    Err(invalid_config(
        "the system random generator returned implausible output",
    ))
}

/// The shape of a display prefix: a valid key prefix plus 4 base62 characters.
pub(super) fn is_display_prefix(s: &str, key_type: KeyType, environment: Environment) -> bool {
    let Some(split) = s.len().checked_sub(DISPLAY_RANDOM_CHARS) else {
        return false;
    };
    match (s.get(..split), s.get(split..)) {
        (Some(prefix), Some(head)) => {
            head.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'*')
                && KeyPrefix::new(prefix, key_type, environment).is_ok()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apikey::fixtures::{code, custom_prefixes, forge, sk_live};
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn only_publishable_keys_pass_in_clients() {
        let pk = generate(&KeyPrefix::standard(KeyType::Public, Environment::Test))
            .unwrap()
            .0;
        assert_eq!(
            require_publishable(&pk).unwrap().key_type(),
            KeyType::Public
        );
        for key_type in [KeyType::Secret, KeyType::Restricted] {
            let key = generate(&KeyPrefix::standard(key_type, Environment::Live))
                .unwrap()
                .0;
            let err = require_publishable(&key).unwrap_err();
            assert_eq!(err.code(), ErrorCode::InvalidConfig);
            assert!(err.message().contains("server") && !err.message().contains(&key));
        }
        assert_eq!(
            require_publishable("sk_live_short").unwrap_err().code(),
            ErrorCode::InvalidConfig
        );
        assert_eq!(
            require_publishable("pk_live_short").unwrap_err().code(),
            ErrorCode::InvalidApiKey
        );
    }

    #[test]
    fn generated_keys_have_the_documented_shape() {
        let (key, parsed) = generate(&sk_live()).unwrap();
        assert_eq!(key.len(), 8 + 32 + 6);
        assert!(key.starts_with("sk_live_"));
        assert!(key[8..].bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(parsed.key_type(), KeyType::Secret);
        assert_eq!(parsed.environment(), Environment::Live);
        assert_eq!(parsed.prefix(), "sk_live_");
        assert_eq!(parsed.display_prefix(), &key[..12]);
        assert_eq!(parse(&key, &KeyPrefixes::standard()).unwrap(), parsed);
        let hash = hash_key(&key);
        assert!(hash.starts_with("sha256:"));
        assert_eq!(hash.len(), 7 + 64);
        assert!(parse_hash(&hash).is_some());
    }

    #[test]
    fn generated_keys_differ_and_use_the_whole_alphabet() {
        let mut seen = BTreeSet::new();
        let mut chars = BTreeSet::new();
        for _ in 0..200 {
            let (key, _) = generate(&sk_live()).unwrap();
            chars.extend(key[8..40].chars());
            assert!(seen.insert(key));
        }
        assert_eq!(chars.len(), 62);
    }

    #[test]
    fn checksum_encoding_is_fixed_width_base62() {
        assert_eq!(checksum(b""), "000000");
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926, "the CRC-32 check value");
        assert_eq!(
            crc32(b"sk_live_00000000000000000000000000000000"),
            2_283_820_664
        );
        assert_eq!(
            checksum(b"sk_live_00000000000000000000000000000000"),
            "2UYg5A"
        );
        let key = forge("sk_live_", &"0".repeat(32));
        assert_eq!(key, "sk_live_000000000000000000000000000000002UYg5A");
        assert!(parse(&key, &KeyPrefixes::standard()).is_ok());
    }

    #[test]
    fn hash_is_lowercase_hex_sha256() {
        assert_eq!(
            hash_key("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            parse_hash(&hash_key("abc")).unwrap().to_vec(),
            Sha256::digest(b"abc").to_vec()
        );
        for bad in [
            "sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
            "sha256:ba7816bf",
            "sha512:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ag",
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a\u{e9}",
            "",
        ] {
            assert_eq!(parse_hash(bad), None, "{bad}");
        }
    }

    #[test]
    fn every_single_character_typo_is_caught_by_the_checksum() {
        let prefixes = KeyPrefixes::standard();
        let (key, _) = generate(&sk_live()).unwrap();
        for i in 8..key.len() {
            for replacement in BASE62.iter().map(|&b| char::from(b)) {
                let mut typo: Vec<char> = key.chars().collect();
                if typo[i] == replacement {
                    continue;
                }
                typo[i] = replacement;
                let typo: String = typo.into_iter().collect();
                assert_eq!(code(parse(&typo, &prefixes)), ErrorCode::InvalidApiKey);
            }
            let mut swapped: Vec<char> = key.chars().collect();
            if i + 1 < key.len() && swapped[i] != swapped[i + 1] {
                swapped.swap(i, i + 1);
                let swapped: String = swapped.into_iter().collect();
                assert!(parse(&swapped, &prefixes).is_err());
            }
        }
    }

    #[test]
    fn parse_accepts_only_the_exact_format() {
        let prefixes = KeyPrefixes::standard();
        let (key, _) = generate(&KeyPrefix::standard(KeyType::Public, Environment::Test)).unwrap();
        assert!(parse(&key, &prefixes).is_ok());
        let random = &key[8..40];
        for bad in [
            String::new(),
            " ".to_string(),
            format!("{key}\n"),
            format!(" {key}"),
            format!("{key} "),
            format!("Bearer {key}"),
            key.to_uppercase(),
            key[..key.len() - 1].to_string(),
            format!("{key}0"),
            key.replacen("pk_test_", "PK_TEST_", 1),
            forge("pk_prod_", random),
            forge("xx_test_", random),
            forge("pk_test", random),
            forge("pk_test__", random),
            forge("pk_test_", &random[..31]),
            forge("pk_test_", &format!("{random}A")),
            forge("pk_test_", &format!("{}_", &random[..31])),
            forge("pk_test_", &format!("{}-", &random[..31])),
            forge("pk_test_", &format!("{}é", &random[..30])),
            forge("pk_test_", &format!("{}\0", &random[..31])),
            forge("", &format!("{random}{random}")),
            "sk_live_".to_string(),
            "a".repeat(1_000_000),
            format!("{}{key}", "sk_live_".repeat(10)),
        ] {
            assert_eq!(
                code(parse(&bad, &prefixes)),
                ErrorCode::InvalidApiKey,
                "{bad:?}"
            );
        }
        assert_eq!(
            parse("sk_live_x", &prefixes).unwrap_err().message(),
            "The API key is malformed"
        );
    }

    #[test]
    fn custom_prefixes_map_to_a_type_and_environment() {
        let prefixes = custom_prefixes();
        let olytix = prefixes.find("olytix-core_key_").unwrap().clone();
        let (key, parsed) = generate(&olytix).unwrap();
        assert!(key.starts_with("olytix-core_key_"));
        assert_eq!(key.len(), 16 + 38);
        assert_eq!(parsed.display_prefix(), &key[..20]);
        let again = parse(&key, &prefixes).unwrap();
        assert_eq!(
            (again.key_type(), again.environment()),
            (KeyType::Secret, Environment::Live)
        );
        let (dp, _) = generate(prefixes.find("dp_live_").unwrap()).unwrap();
        assert_eq!(
            parse(&dp, &prefixes).unwrap().key_type(),
            KeyType::Restricted
        );
        // Without the custom prefix configured the key is unknown.
        assert_eq!(
            code(parse(&key, &KeyPrefixes::standard())),
            ErrorCode::InvalidApiKey
        );
        // Only-custom deployments can drop the standard prefixes.
        let only = KeyPrefixes::none().with_prefix(olytix.clone()).unwrap();
        assert!(parse(&key, &only).is_ok());
        let (sk, _) = generate(&sk_live()).unwrap();
        assert_eq!(code(parse(&sk, &only)), ErrorCode::InvalidApiKey);
    }

    #[test]
    fn custom_prefixes_are_validated() {
        for bad in [
            "",
            "_",
            "dp",
            "dp_live",
            "dp live_",
            "dp.live_",
            "dp_livé_",
            "dp_live_\n",
            &format!("{}_", "a".repeat(32)),
        ] {
            assert_eq!(
                KeyPrefix::new(bad, KeyType::Secret, Environment::Live)
                    .unwrap_err()
                    .code(),
                ErrorCode::InvalidConfig,
                "{bad:?}"
            );
        }
        assert!(KeyPrefix::new(
            &format!("{}_", "a".repeat(31)),
            KeyType::Secret,
            Environment::Live
        )
        .is_ok());
        let dup = KeyPrefixes::standard()
            .with_prefix(KeyPrefix::new("sk_live_", KeyType::Public, Environment::Test).unwrap());
        assert_eq!(code(dup), ErrorCode::InvalidConfig);
    }

    proptest! {
        #[test]
        fn near_miss_keys_never_panic(prefix in "[a-z_-]{0,20}", body in "[0-9A-Za-z_é]{30,40}") {
            let key = forge(&prefix, &body);
            let _ = parse(&key, &custom_prefixes());
            let _ = parse(&format!("{prefix}{body}"), &custom_prefixes());
        }
    }
}
