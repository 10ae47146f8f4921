//! `make fuzz`: arbitrary input to `tokenwarden_fuzz::oauth_responses` (see its doc comment).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tokenwarden_fuzz::oauth_responses(data);
});
