// The two wasm builds: the browser build carries no verification, minting (scoped tokens included) or webhook code, and
// no confidential client (no way to send a client secret or private key).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';

const dist = new URL('../../pkg/dist/wasm/', import.meta.url);

test('the browser build exports no verification and is a fraction of the full build', async () => {
  const browser = await import(new URL('browser/tokenwarden.js', dist));
  const full = await import(new URL('full/tokenwarden.js', dist));
  for (const name of ['Verifier', 'verifyWebhook', 'signWebhook', 'mintJwt', 'generateSigningKey', 'hashApiKey', 'confidentialClient', 'tokenSet', 'mintScopedToken', 'retryDelay']) {
    assert.equal(browser[name], undefined, `${name} is not in the browser build`);
    assert.equal(typeof full[name], 'function', `${name} is in the full build`);
  }
  for (const name of ['beginLogin', 'Session', 'Client', 'parseApiKey', 'requirePublishableKey', 'endSessionUrl']) assert.equal(typeof browser[name], 'function', name);
  const size = (b) => statSync(new URL(`${b}/tokenwarden_bg.wasm`, dist)).size;
  assert.ok(size('browser') * 3 < size('full'), `browser ${size('browser')} B vs full ${size('full')} B`);
});

test('the wasm2js build of the browser core has the browser build\'s exports, and no WebAssembly in it', async () => {
  const browser = await import(new URL('browser/tokenwarden.js', dist));
  const noWasm = await import(new URL('browser-js/tokenwarden.js', dist));
  const api = (m) => Object.keys(m).filter((k) => !['default', 'initSync'].includes(k)).sort();
  assert.deepEqual(api(noWasm), api(browser));
  const { readFileSync, readdirSync } = await import('node:fs');
  const dir = new URL('browser-js/', dist);
  assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.wasm')), [], 'no .wasm file ships in it');
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.js'))) assert.ok(!readFileSync(new URL(f, dir), 'utf8').includes('WebAssembly'), `${f} does not use WebAssembly`);
});
