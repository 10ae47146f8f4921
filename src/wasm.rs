//! The JavaScript boundary (features `js-browser` and `js`): wasm-bindgen exports over the core,
//! with no decisions of their own.
//!
//! Values cross as strings, bytes and numbers; structured values as JSON strings made by the
//! core's serde_json, which keeps serde-wasm-bindgen and `format!` out of the browser build.
//! Errors are thrown as the JSON of [`error_json`] so the TypeScript layer can raise a typed
//! error carrying the core's stable code. Times are unix seconds as JS numbers.

use wasm_bindgen::JsValue;

use crate::error::AuthError;

pub mod browser;
#[cfg(feature = "js")]
pub mod gateway;
#[cfg(feature = "js")]
pub mod server;

/// What a failed export throws.
pub type JsResult<T> = Result<T, JsValue>;

/// `{"code","message","status","retry_after","oauth":{"error","error_description","error_uri"}}`;
/// `retry_after` and `oauth` are null when absent. Provider text is the core's cleaned copy.
/// Derived structs rather than `json!`, which would add `Value`'s writer to the browser build.
pub fn error_json(err: &AuthError) -> String {
    #[derive(serde::Serialize)]
    struct Provider<'a> {
        error: &'a str,
        error_description: Option<&'a str>,
        error_uri: Option<&'a str>,
    }
    #[derive(serde::Serialize)]
    struct Error<'a> {
        code: &'a str,
        message: &'a str,
        status: u16,
        retry_after: Option<u64>,
        oauth: Option<Provider<'a>>,
    }
    to_json(&Error {
        code: err.code().as_str(),
        message: err.message(),
        status: err.status(),
        retry_after: err.retry_after(),
        oauth: err.oauth_error().map(|o| Provider {
            error: o.error(),
            error_description: o.error_description(),
            error_uri: o.error_uri(),
        }),
    })
}

fn throw(err: AuthError) -> JsValue {
    JsValue::from_str(&error_json(&err))
}

/// A JSON argument the TypeScript layer built; a malformed one is a configuration error. Read
/// as bytes: the core reads every answer with `from_slice`, and a second reader (`from_str`)
/// would be a second copy of serde_json's parser in the browser build.
fn from_json<T: serde::de::DeserializeOwned>(json: &str) -> JsResult<T> {
    serde_json::from_slice(json.as_bytes()).map_err(|_| {
        throw(AuthError::with_message(
            crate::ErrorCode::InvalidConfig,
            "an argument is not the expected JSON",
        ))
    })
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// JS numbers carry unix seconds; `as` saturates (negative and NaN become 0).
fn secs(n: f64) -> u64 {
    n as u64
}

/// The browser build's allocator: talc rather than std's dlmalloc, for size (see Cargo.toml).
#[cfg(all(feature = "js-browser", target_arch = "wasm32", target_os = "unknown"))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
