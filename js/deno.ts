/**
 * The Deno entry (export condition `deno`): the full build, like the Node entry, but its wasm
 * comes in as a module import (`deno-wasm.js`, a Wasm source phase import) instead of a file
 * read. Deno allows module imports without permissions, while `readFileSync` (the Node entry)
 * needs `--allow-read`: a server run with `--allow-net` alone failed at import.
 */
import module from './deno-wasm.js';
import * as wasm from './wasm/full/tokenwarden.js';
import { setCore } from './core.js';

wasm.initSync({ module });
setCore(wasm, true);

export * from './server.js';
