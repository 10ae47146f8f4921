//! Rate-limit state in proxy-wasm shared data, so every Envoy worker (every VM of the same
//! `vm_id`) draws from the same buckets. The gateway only needs load and compare-and-swap.

use proxy_wasm::hostcalls;
use proxy_wasm::types::Status;
use tokenwarden::gateway::RateStore;
use tokenwarden::ratelimit::GcraState;

/// Shared data as a [`RateStore`]: the host holds every bucket, under the configuration's
/// prefix (`Local::rate_prefix`).
pub struct SharedDataRateStore<'a> {
    pub prefix: &'a str,
}

impl RateStore for SharedDataRateStore<'_> {
    fn load(&mut self, key: &str) -> (Option<GcraState>, u32) {
        match hostcalls::get_shared_data(&format!("{}{key}", self.prefix)) {
            Ok((Some(bytes), cas)) => (GcraState::from_bytes(&bytes), cas.unwrap_or(0)),
            // Absent, or the host failed: a fresh bucket whose store will check nothing...
            _ => (None, 0),
        }
    }

    fn store(&mut self, key: &str, state: GcraState, version: u32) -> bool {
        // ...Envoy treats cas 0 as "no check": two workers creating the same bucket at the same
        // instant can both win once. Afterwards every write is a real compare-and-swap.
        let cas = (version != 0).then_some(version);
        let key = format!("{}{key}", self.prefix);
        match hostcalls::set_shared_data(&key, Some(&state.to_bytes()), cas) {
            Ok(()) => true,
            Err(Status::CasMismatch) => false,
            Err(other) => {
                log::warn!("rate limit state not stored ({other:?}); counting the request as over");
                false
            }
        }
    }
}
