/**
 * The workerd (Cloudflare Workers) entry. workerd will not compile wasm from bytes at run time,
 * so the module is imported as a compiled `WebAssembly.Module` (a `wasm` module in the config;
 * bundlers for Workers do this for `.wasm` imports) and instantiated synchronously.
 */
import module from './wasm/full/tokenwarden_bg.wasm';
import * as wasm from './wasm/full/tokenwarden.js';
import { setCore } from './core.js';

wasm.initSync({ module });
setCore(wasm, true);

export * from './server.js';
