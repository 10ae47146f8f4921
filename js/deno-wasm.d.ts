/** The full build's compiled module (see deno-wasm.js, plain JavaScript). */
declare const module: WebAssembly.Module;
export default module;
