/**
 * The browser and mobile-webview entry: the small wasm build (sign-in, session, key parsing;
 * no signature verification), fetched next to this module and instantiated on import.
 */
import init, * as wasm from './wasm/browser/tokenwarden.js';
import { setCore } from './core.js';

await init();
setCore(wasm, false);

export * from './browser-api.js';
