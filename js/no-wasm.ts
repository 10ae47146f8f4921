/**
 * The entry for runtimes without WebAssembly (React Native's Hermes, locked-down webviews):
 * the browser build's core converted to JavaScript by binaryen's wasm2js, so the same
 * decisions run unchanged, only slower and larger. Chosen by the `react-native` export
 * condition, or imported as `tokenwarden/no-wasm`.
 */
import * as core from './wasm/browser-js/tokenwarden.js';
import { setCore } from './core.js';

setCore(core, false);

export * from './browser-api.js';
