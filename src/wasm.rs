//! wasm-bindgen exports (cargo feature `js`, target wasm32-unknown-unknown): bindings only, the
//! logic stays in the core.

pub mod gateway;
