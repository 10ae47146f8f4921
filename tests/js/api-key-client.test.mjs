// ApiKeyClient, DataPulse's SDK promise (shared/reference 004: "handle token management, retries,
// and rate limiting automatically", `timeout=30, retries=3`, 429 + Retry-After) in the SDK's own
// words. A local HTTP server plays the DataPulse API; it counts what the client sent.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { ApiKeyClient, ConfigError, NetworkError } from 'tokenwarden';
import { serve } from './helpers.mjs';

const KEY = 'dp_live_8f3k29dQz81mLk0aP2';
let flaky = 0;
let limited = 0;
const api = await serve({
  'GET /v1/auth/verify': (r) => (r.headers.authorization === `Bearer ${KEY}` || r.headers['x-api-key'] === KEY ? { body: { org_name: 'Acme' } } : { status: 401 }),
  'GET /v1/flaky': () => (++flaky <= 2 ? { status: 503 } : { body: { ok: true } }),
  'POST /v1/pipelines/run': () => ({ status: 503 }),
  'GET /v1/limited': () => (++limited === 1 ? { status: 429, headers: { 'retry-after': '1' } } : { body: { ok: true } }),
  'GET /v1/busy': () => ({ status: 429, headers: { 'retry-after': '3600' } }),
  'GET /v1/hang': () => new Promise(() => {}),
  'GET /v1/broken': () => ({ status: 500 }),
});
after(() => api.close());

const client = (extra = {}) => new ApiKeyClient({ apiKey: KEY, baseUrl: `${api.origin}/v1/`, ...extra });

test('client.auth.verify(): the key goes as a Bearer token, or in the header the API names', async () => {
  const res = await client().fetch('auth/verify');
  assert.deepEqual(await res.json(), { org_name: 'Acme' });
  const other = await client({ header: 'x-api-key' }).fetch('auth/verify');
  assert.equal(other.status, 200);
  assert.equal(api.requests.at(-1).headers.authorization, undefined, 'only the named header carries the key');
});

test('503s are retried with a growing wait until the answer comes; a 500 is an answer', async () => {
  const started = Date.now();
  const res = await client().fetch('flaky');
  assert.equal(res.status, 200);
  assert.equal(api.count('GET', '/v1/flaky'), 3, 'two failures, then the answer');
  assert.ok(Date.now() - started >= 1000, 'waited between attempts');
  assert.equal((await client().fetch('broken')).status, 500);
  assert.equal(api.count('GET', '/v1/broken'), 1, 'a 500 is not retried');
});

test('a 429 waits out Retry-After; one asking for an hour is handed to the caller at once', async () => {
  const started = Date.now();
  assert.equal((await client().fetch('limited')).status, 200);
  assert.ok(Date.now() - started >= 1000, `waited the Retry-After (${Date.now() - started} ms)`);
  const busy = await client().fetch('busy');
  assert.equal(busy.status, 429);
  assert.equal(api.count('GET', '/v1/busy'), 1);
});

test('a POST is sent once unless it may be replayed', async () => {
  assert.equal((await client().fetch('pipelines/run', { method: 'POST', body: '{}' })).status, 503);
  assert.equal(api.count('POST', '/v1/pipelines/run'), 1);
  assert.equal((await client({ retries: 1 }).fetch('pipelines/run', { method: 'POST', body: '{}' }, { replayNonIdempotent: true })).status, 503);
  assert.equal(api.count('POST', '/v1/pipelines/run'), 3);
});

test('no answer within timeoutMs is retried, then a NetworkError that never shows the key', async () => {
  await assert.rejects(client({ timeoutMs: 200, retries: 1 }).fetch('hang'), (e) => {
    assert.ok(e instanceof NetworkError);
    assert.equal(e.code, 'network_error');
    assert.ok(!e.message.includes(KEY));
    return true;
  });
  assert.equal(api.count('GET', '/v1/hang'), 2, 'the first attempt and one retry');
});

test('refused where a page could read the key, and for a malformed key', () => {
  globalThis.document = {};
  try {
    assert.throws(() => client(), ConfigError);
  } finally {
    delete globalThis.document;
  }
  assert.throws(() => new ApiKeyClient({ apiKey: 'has space' }), ConfigError);
  assert.throws(() => new ApiKeyClient({ apiKey: KEY, header: 'bad header' }), ConfigError);
});
