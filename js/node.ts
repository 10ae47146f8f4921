/** The Node entry: the full wasm build, read from disk and instantiated synchronously. */
import { readFileSync } from 'node:fs';
import * as wasm from './wasm/full/tokenwarden.js';
import { setCore } from './core.js';

wasm.initSync({ module: readFileSync(new URL('./wasm/full/tokenwarden_bg.wasm', import.meta.url)) });
setCore(wasm, true);

export * from './server.js';
