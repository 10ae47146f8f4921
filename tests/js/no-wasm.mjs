// Preload (`node --import`) for running the AuthClient suites as a runtime without WebAssembly
// would (React Native's Hermes): `WebAssembly` is removed before any test module loads, so the
// package must take its `react-native` entry (run with `--conditions=react-native`), the core
// converted to JavaScript by wasm2js. Not `--no-expose-wasm`: Node's own fetch parses HTTP with
// llhttp compiled to wasm, so one request is made first to load it, then the global goes. What
// remains is what such a runtime has: a native fetch, and no WebAssembly for the package.
import http from 'node:http';
import { once } from 'node:events';

const server = http.createServer((_req, res) => res.end('ok'));
server.listen(0, '127.0.0.1');
await once(server, 'listening');
await (await fetch(`http://127.0.0.1:${server.address().port}/`)).text();
server.close();
delete globalThis.WebAssembly;
if (typeof WebAssembly !== 'undefined') throw new Error('no-wasm.mjs: WebAssembly is still defined');
