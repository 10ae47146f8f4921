// Both edges meet the same faults of the endpoints other than a JWKS (recovery.test.mjs has
// those) and answer alike: a polled API key store, an introspection endpoint and a key service
// (lookup-on-miss), each answering 500, dropping the connection without an answer, dropping it
// mid-body, never answering (past `timeout_ms`), answering garbage and answering 50 MB; then
// rotated (a key added and one revoked in the store, a token deactivated, a key revoked at
// the key service) mid-traffic.
//
// - the polled store: the last good store stays in use within `max_stale_secs`, is refused
//   (`keys_unavailable`) after it, and a fixed store is used within a poll;
// - introspection and lookup are calls made in a request: an answer cached before the fault
//   stays in use, a credential not seen before is refused `keys_unavailable` (fail closed,
//   not cached), and the first request after the fault is answered again;
// - every outage is logged once when it starts and once when it ends, on each edge.
//
// Envoy + the filter and workerd + the Worker, two configurations (a store is polled or looked
// up, not both), one document server (a local node:http server playing the key store, the
// introspection endpoint and the key service). Needs `make filter` and `make worker`.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { apiKey } from '../e2e/lib/apikeys.mjs';
import { errorCode, request, sleep, startDocumentServer, startEchoServer } from '../e2e/lib/http.mjs';
import { startHosts } from '../e2e/lib/hosts.mjs';

/** Every fault, in order; `drop` closes the connection at once, `reset` mid-body. */
const FAULTS = [{ status: 500 }, { drop: true }, { reset: true }, { hang: true }, { body: '<html>maintenance</html>' }, { bytes: 50 << 20 }];
const OK = { status: 200, code: undefined };
const UNAVAILABLE = { status: 503, code: 'keys_unavailable' };

let origin;
let docs;
const polled = {};
const lookedUp = {};

/** The polled store: its keys by name, and the store document served. */
const storeKeys = { first: apiKey(), second: apiKey(), added: apiKey() };
const storeDoc = (names) => ({ version: 1, keys: names.map((n) => storeKeys[n].record) });

/** Opaque tokens the introspection endpoint deactivated. */
const inactive = new Set();
let tokens = 0;
const opaque = () => `opaque-${process.pid}-${++tokens}-${'x'.repeat(24)}`;
const introspect = (_url, body) => {
  const token = new URLSearchParams(body).get('token');
  if (!token || inactive.has(token)) return { active: false };
  return { active: true, sub: `user-${token.split('-')[2]}`, scope: 'read', exp: Math.floor(Date.now() / 1000) + 3600 };
};

/** The key service: records by SHA-256; a revoked key's record says so. */
const service = new Map();
const serviceKey = () => {
  const k = apiKey();
  service.set(k.record.hash.slice('sha256:'.length), k.record);
  return k;
};
const lookup = (url) => service.get(new URL(url, 'http://x').searchParams.get('hash'));

before(async () => {
  origin = await startEchoServer();
  docs = await startDocumentServer({ '/keys.json': storeDoc(['first', 'second']), '/introspect': introspect, '/lookup': lookup });
  const at = (path, extra = {}) => ({ cluster: 'docs', url: `http://127.0.0.1:${docs.port}`, path, timeout_ms: 500, ...extra });
  const clusters = { docs: docs.port };
  const [a, b] = await Promise.all([
    startHosts({
      originPort: origin.port,
      clusters,
      gatewayConfig: {
        api_keys: { store: { remote: at('/keys.json', { refresh_secs: 1, max_stale_secs: 6 }) } },
        introspection: { endpoint: at('/introspect'), client_id: 'edge', client_secret: 'edge-introspection-secret', cache_secs: 2, negative_cache_secs: 1 },
      },
    }),
    startHosts({
      originPort: origin.port,
      clusters,
      gatewayConfig: {
        api_keys: { store: { lookup: { ...at('/lookup?hash={hash}'), positive_ttl_secs: 2, negative_ttl_secs: 1 } } },
      },
    }),
  ]);
  Object.assign(polled, a);
  Object.assign(lookedUp, b);
});

after(async () => {
  await polled.stop?.();
  await lookedUp.stop?.();
  await origin?.stop();
  await docs?.stop();
});

const EDGES = ['envoy', 'worker'];

/** What each edge of `running` answers: status and, when refused, the error code. */
async function answers(running, headers) {
  const out = {};
  for (const edge of EDGES) {
    const res = await request(running.hosts[edge], { headers });
    out[edge] = { status: res.status, code: res.status === 200 ? undefined : errorCode(res) };
  }
  return out;
}

const both = (a) => ({ envoy: a, worker: a });
const key = (k) => ({ authorization: `Bearer ${k.key}` });
const bearer = (t) => ({ authorization: `Bearer ${t}` });

/** Each edge's log lines (Envoy's log file, workerd's console). */
const logs = async (running) => ({ envoy: (await running.envoy.log()).split('\n'), worker: running.worker.lines() });

/** Asks until every edge's log has `count` lines matching `re`, for at most `ms`. */
async function untilLogged(running, re, count, ms, nudge) {
  const deadline = Date.now() + ms;
  let seen;
  do {
    if (nudge) await nudge();
    const l = await logs(running);
    seen = Object.fromEntries(EDGES.map((e) => [e, l[e].filter((line) => re.test(line)).length]));
    if (EDGES.every((e) => seen[e] >= count)) return seen;
    await sleep(200);
  } while (Date.now() < deadline);
  return seen;
}

/** Asserts each edge logged exactly `count` lines matching `re`. */
async function assertLogged(running, re, count, what) {
  const l = await logs(running);
  for (const edge of EDGES) {
    const lines = l[edge].filter((line) => re.test(line));
    assert.equal(lines.length, count, `${edge}: ${what}: ${lines.join(' | ')}`);
  }
}

test('a polled key store failing every way keeps the last good store on both edges, logs each outage once, and recovers within a poll', async () => {
  const loaded = await untilEach(polled, OK, () => key(storeKeys.first), 4000);
  for (const edge of EDGES) assert.ok(loaded[edge] !== undefined, `${edge} never loaded the store`);
  const started = /keys: fetch of \/keys\.json.* failed/;
  const ended = /keys: fetched again after/;
  for (const [i, fault] of FAULTS.entries()) {
    docs.faults['/keys.json'] = fault;
    const asked = docs.count('/keys.json');
    // Requests throughout: the Worker fetches only when asked; refresh is 1 s.
    const until = Date.now() + 2000;
    while (Date.now() < until) {
      assert.deepEqual(await answers(polled, key(storeKeys.first)), both(OK), `during ${JSON.stringify(fault)}`);
      await sleep(250);
    }
    assert.ok(docs.count('/keys.json') >= asked + 2, `both edges met ${JSON.stringify(fault)}`);
    delete docs.faults['/keys.json'];
    const seen = await untilLogged(polled, ended, i + 1, 4000, () => answers(polled, key(storeKeys.first)));
    assert.deepEqual(seen, both(i + 1), `both recovered within a poll from ${JSON.stringify(fault)}`);
  }
  await assertLogged(polled, started, FAULTS.length, 'one line per outage start');
  await assertLogged(polled, ended, FAULTS.length, 'one line per outage end');

  // Past refresh (1 s) + max_stale (6 s) without a good fetch: both fail closed, then recover.
  docs.faults['/keys.json'] = { body: 'not a store' };
  // The last good load was at most a poll (1 s) ago: usable for at least 6 s more, at most 7.
  const closed = await untilEach(polled, UNAVAILABLE, () => key(storeKeys.first), 10000);
  for (const edge of EDGES) assert.ok(closed[edge] >= 5500, `${edge} failed closed after max_stale, not before (${closed[edge]} ms)`);
  delete docs.faults['/keys.json'];
  const back = await untilEach(polled, OK, () => key(storeKeys.first), 4000);
  for (const edge of EDGES) assert.ok(back[edge] !== undefined, `${edge} used the store again`);
});

test('a key store rotated mid-traffic: the added key is accepted and the revoked one refused within a poll, alike on both edges', async () => {
  assert.deepEqual(await answers(polled, key(storeKeys.added)), both({ status: 401, code: 'invalid_api_key' }));
  storeKeys.second.record.revoked = true;
  docs.docs['/keys.json'] = storeDoc(['first', 'second', 'added']);
  const took = await untilEach(polled, OK, () => key(storeKeys.added), 4000);
  for (const edge of EDGES) assert.ok(took[edge] !== undefined, `${edge} never accepted the added key`);
  assert.deepEqual(await answers(polled, key(storeKeys.second)), both({ status: 401, code: 'revoked_api_key' }));
  assert.deepEqual(await answers(polled, key(storeKeys.first)), both(OK));
});

/**
 * A call made in a request (introspection, a key lookup) failing every way: the credential
 * asked just before stays in use from the cache, one never seen is refused alike, and the
 * first request after the fault is answered.
 */
async function callFaults(running, { path, purpose, fresh }) {
  const started = new RegExp(`${purpose}: call to .*${path.replace('?', '\\?').split('{')[0]}.* failed`);
  const ended = new RegExp(`${purpose}: answered again after`);
  for (const [i, fault] of FAULTS.entries()) {
    const cached = fresh();
    assert.deepEqual(await answers(running, cached), both(OK), `before ${JSON.stringify(fault)}`);
    docs.faults[path.split('?')[0]] = fault;
    assert.deepEqual(await answers(running, cached), both(OK), `the cached answer during ${JSON.stringify(fault)}`);
    assert.deepEqual(await answers(running, fresh()), both(UNAVAILABLE), `a new credential during ${JSON.stringify(fault)}`);
    assert.deepEqual(await answers(running, fresh()), both(UNAVAILABLE), `another during ${JSON.stringify(fault)}`);
    delete docs.faults[path.split('?')[0]];
    assert.deepEqual(await answers(running, fresh()), both(OK), `the first request after ${JSON.stringify(fault)}`);
    await untilLogged(running, ended, i + 1, 2000); // Envoy writes its log file every 100 ms
    await assertLogged(running, started, i + 1, `one line per outage start (${JSON.stringify(fault)})`);
    await assertLogged(running, ended, i + 1, `one line per outage end (${JSON.stringify(fault)})`);
  }
}

test('an introspection endpoint failing every way: cached answers stay, new tokens are refused alike, each outage is logged once, and the next request is answered', async () => {
  await callFaults(polled, { path: '/introspect', purpose: 'introspection', fresh: () => bearer(opaque()) });
});

test('a token deactivated at the introspection endpoint mid-traffic is refused once its cached answer ends, alike on both edges', async () => {
  const token = opaque();
  assert.deepEqual(await answers(polled, bearer(token)), both(OK));
  inactive.add(token);
  const took = await untilEach(polled, { status: 401, code: 'inactive_token' }, () => bearer(token), 4000);
  for (const edge of EDGES) assert.ok(took[edge] !== undefined && took[edge] <= 3000, `${edge} refused within cache_secs (${took[edge]} ms)`);
});

test('a key service failing every way: cached records stay, new keys are refused alike, each outage is logged once, and the next request is answered', async () => {
  await callFaults(lookedUp, { path: '/lookup?hash={hash}', purpose: 'api_keys.store.lookup', fresh: () => key(serviceKey()) });
  // The log names where the calls go, never a key's hash.
  for (const lines of Object.values(await logs(lookedUp))) {
    for (const line of lines.filter((l) => l.includes('api_keys.store.lookup: call to'))) assert.ok(!/[0-9a-f]{64}/.test(line), line);
  }
});

test('a key revoked at the key service mid-traffic is refused once its cached record ends, alike on both edges', async () => {
  const k = serviceKey();
  assert.deepEqual(await answers(lookedUp, key(k)), both(OK));
  k.record.revoked = true;
  const took = await untilEach(lookedUp, { status: 401, code: 'revoked_api_key' }, () => key(k), 4000);
  for (const edge of EDGES) assert.ok(took[edge] !== undefined && took[edge] <= 3000, `${edge} refused within positive_ttl_secs (${took[edge]} ms)`);
});

/** Asks every edge until each answers `want`; resolves to the ms each one took. */
async function untilEach(running, want, headers, ms) {
  const start = Date.now();
  const took = {};
  while (Date.now() - start < ms && Object.keys(took).length < EDGES.length) {
    const seen = await answers(running, headers());
    for (const edge of EDGES) if (took[edge] === undefined && seen[edge].status === want.status && seen[edge].code === want.code) took[edge] = Date.now() - start;
    await sleep(100);
  }
  return took;
}
