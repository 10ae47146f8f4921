// The full build's wasm as a compiled WebAssembly.Module, for the Deno entry: a Wasm source phase
// import (`import source`), which Deno resolves and compiles like any module import, so without
// --allow-read. Plain JavaScript because TypeScript cannot write `import source` yet;
// scripts/build-js.sh copies it next to deno.js.
import source module from './wasm/full/tokenwarden_bg.wasm';

export default module;
