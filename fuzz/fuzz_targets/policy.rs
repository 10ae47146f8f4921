//! `make fuzz`: arbitrary input to `tokenwarden_fuzz::policy` (see its doc comment).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tokenwarden_fuzz::policy(data);
});
