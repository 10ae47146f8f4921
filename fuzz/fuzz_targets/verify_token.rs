//! `make fuzz` (FUZZ_TARGETS=verify_token): arbitrary input as a compact JWS, parsed and verified
//! against a fixed HS256 key and a fixed RS256 key (see `tokenwarden_fuzz::verify_token`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tokenwarden_fuzz::verify_token(data);
});
