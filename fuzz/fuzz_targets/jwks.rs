//! `make fuzz` (FUZZ_TARGETS=jwks): arbitrary input as a JWK Set, a single JWK and a PEM public
//! key (see `tokenwarden_fuzz::jwks`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tokenwarden_fuzz::jwks(data);
});
