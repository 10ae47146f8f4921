// Remote key sources in a real Envoy: JWKS, OpenID discovery and an API key store served by a
// local node:http server through Envoy clusters; fetched by one elected thread and shared; an
// unknown kid refetched ahead of schedule; the last good keys kept through an outage; no keys
// ever → fail closed; counters and gauges at the admin /stats.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { bootstrap, cleanup, freePort, startEnvoy, stats } from './lib/envoy.mjs';
import { eventually, request, sleep, startDocumentServer, startEchoServer } from './lib/http.mjs';
import { es256Issuer } from './lib/jwt.mjs';

const AUD = 'https://api.e2e.test';

// A live secret key made by `tokenwarden keys create --type sk --env live` (test-only). The key
// store holds only its SHA-256.
const API_KEY = 'sk_live_CcGn6dLZdfhSDjNK2L3XWSVGheLS6Ari46FmSd';
const keyStore = ({ revoked = false } = {}) => ({
  version: 1,
  keys: [
    {
      id: 'key_9uWOpo27TRRhyVui',
      name: 'e2e remote store',
      type: 'sk',
      env: 'live',
      display_prefix: 'sk_live_CcGn',
      hash: `sha256:${createHash('sha256').update(API_KEY).digest('hex')}`,
      permissions: [],
      datasets: [],
      expires_at: null,
      revoked,
      revoked_at: revoked ? Math.floor(Date.now() / 1000) : null,
      allowed_ips: [],
      rate_limit: null,
      created_at: 1795441347,
      rotated_from: null,
      roles: [],
    },
  ],
});

// Three issuers on one document server: `rot` refreshes rarely (only the unknown-kid refetch can
// explain a rotated key being accepted), `stale` every second (its fetches fail during the
// outage), `disc` through OpenID discovery.
const rot = es256Issuer({ issuer: 'https://rot.e2e.test', kid: 'rot-1' });
const rotNext = es256Issuer({ issuer: 'https://rot.e2e.test', kid: 'rot-2' });
const stale = es256Issuer({ issuer: 'https://stale.e2e.test', kid: 'stale-1' });
const disc = es256Issuer({ issuer: 'https://disc.e2e.test', kid: 'disc-1' });

const remote = (path, extra = {}) => ({ cluster: 'keys', authority: 'keys.e2e.test', path, timeout_ms: 500, ...extra });
const provider = (name, idp, jwks) => ({ name, issuer: idp.issuer, audiences: [AUD], algorithms: ['ES256'], jwks });

const bearer = (idp, claims = {}) => ({ authorization: `Bearer ${idp.token({ sub: 'u', aud: AUD, ...claims })}` });

let upstream;
before(async () => {
  upstream = await startEchoServer();
});
after(async () => {
  await upstream?.stop();
});

async function envoyWith(pluginConfig, docsPort, options = {}) {
  const [listenerPort, adminPort] = [await freePort(), await freePort()];
  const config = bootstrap({ listenerPort, adminPort, upstreamPort: upstream.port, pluginConfig, clusters: { keys: docsPort } });
  return startEnvoy({ config, listenerPort, adminPort, ...options });
}

describe('remote JWKS, discovery and key store, shared by two workers', () => {
  let envoy;
  let docs;
  before(async () => {
    docs = await startDocumentServer({
      '/rot/jwks': rot.jwks,
      '/stale/jwks': stale.jwks,
      '/disc/.well-known/openid-configuration': { issuer: disc.issuer, jwks_uri: `${disc.issuer}/disc/jwks` },
      '/disc/jwks': disc.jwks,
      '/keys.json': keyStore(),
    });
    envoy = await envoyWith(
      {
        providers: [
          provider('rot', rot, { remote: remote('/rot/jwks', { refresh_secs: 300 }) }),
          provider('stale', stale, { remote: remote('/stale/jwks', { refresh_secs: 1 }) }),
          provider('disc', disc, { discovery: remote('/disc/.well-known/openid-configuration', { refresh_secs: 300 }) }),
        ],
        api_keys: { store: { remote: remote('/keys.json', { refresh_secs: 1 }) } },
      },
      docs.port,
      // Main thread + 2 workers all tick: the election must still make one fetch per round.
      { concurrency: 2 },
    );
  });
  after(async () => {
    await envoy?.stop();
    await cleanup(envoy?.dir);
    await docs?.stop();
  });

  test('keys are fetched at start, once for all threads, and tokens from them pass', async () => {
    for (const idp of [rot, stale]) {
      const ok = await eventually(async () => (await request(envoy.listenerPort, { headers: bearer(idp) })).status === 200);
      assert.ok(ok, `a token signed by the remote key of ${idp.issuer} passes once its JWKS is fetched`);
    }
    // Another worker takes the shared document on its next request: every request passes now.
    for (let i = 0; i < 6; i++) {
      const res = await request(envoy.listenerPort, { headers: bearer(i % 2 ? rot : stale) });
      assert.equal(res.status, 200, res.body);
    }
    assert.equal(docs.count('/rot/jwks'), 1, `one fetch for three threads: ${docs.hits}`);
    assert.equal(docs.requests.at(0).headers.host, 'keys.e2e.test', 'the configured authority');
  });

  test('OpenID discovery: the JWKS is fetched from its jwks_uri', async () => {
    const res = await eventually(async () => {
      const r = await request(envoy.listenerPort, { headers: bearer(disc) });
      return r.status === 200 && r;
    });
    assert.ok(res, 'a token of the discovered issuer passes');
    assert.equal(docs.count('/disc/.well-known/openid-configuration'), 1);
    assert.ok(docs.count('/disc/jwks') >= 1);
  });

  test('a key revoked in the remote store is refused after the poll interval', async () => {
    const headers = { authorization: `Bearer ${API_KEY}` };
    const ok = await eventually(async () => (await request(envoy.listenerPort, { headers })).status === 200);
    assert.ok(ok, 'the API key passes once the store is fetched');
    docs.docs['/keys.json'] = keyStore({ revoked: true });
    const started = Date.now();
    const refused = await eventually(async () => {
      const r = await request(envoy.listenerPort, { headers });
      return r.status === 401 && r;
    });
    assert.ok(refused, 'the revocation reached the proxy');
    assert.equal(JSON.parse(refused.body).error.code, 'revoked_api_key');
    assert.ok(Date.now() - started < 3500, `within the poll interval and a tick: ${Date.now() - started} ms`);
  });

  test('a rotated key (new kid) is accepted within a request or two: single-flight refetch', async () => {
    const before = docs.count('/rot/jwks');
    docs.docs['/rot/jwks'] = { keys: [...rot.jwks.keys, ...rotNext.jwks.keys] };
    const first = await request(envoy.listenerPort, { headers: bearer(rotNext) });
    if (first.status !== 200) {
      assert.equal(first.status, 401, first.body);
      assert.equal(JSON.parse(first.body).error.code, 'unknown_key');
    }
    // More new-kid requests within the cooldown ask for no second refetch.
    for (let i = 0; i < 3; i++) await request(envoy.listenerPort, { headers: bearer(rotNext, { sub: `r${i}` }) });
    // One tick to fetch, one for the other worker to take the shared document: about 1 s.
    const later = await eventually(async () => {
      const r = await request(envoy.listenerPort, { headers: bearer(rotNext) });
      return r.status === 200 && r;
    }, 3000);
    assert.ok(later, 'the new kid is accepted after the refetch');
    assert.equal(docs.count('/rot/jwks') - before, 1, 'one refetch, not one per request or per thread');
    // The old key is still in the set.
    assert.equal((await request(envoy.listenerPort, { headers: bearer(rot) })).status, 200);
  });

  test('counters and gauges at /stats', async () => {
    // Each worker has its own cache: of three requests with one token, two meet on a worker.
    const token = bearer(rot, { sub: 'metrics' });
    for (let i = 0; i < 3; i++) await request(envoy.listenerPort, { headers: token });
    await request(envoy.listenerPort, { headers: bearer(rot, { aud: 'https://other.test' }) });
    const s = await stats(envoy.adminPort);
    const value = (name) => {
      assert.ok(s.has(name), `${name} in:\n${s.text}`);
      return s.get(name);
    };
    assert.ok(value('wasmcustom.tokenwarden.allowed') >= 8);
    assert.ok(value('wasmcustom.tokenwarden.denied.invalid_audience') >= 1);
    assert.ok(value('wasmcustom.tokenwarden.denied.revoked_api_key') >= 1);
    assert.ok(value('wasmcustom.tokenwarden.cache.hit') >= 1);
    assert.ok(value('wasmcustom.tokenwarden.cache.miss') >= 1);
    // Per source: the three requests above went to provider `rot`, the key checks to api_keys.
    assert.ok(value('wasmcustom.tokenwarden.provider.rot.allowed') >= 3);
    assert.ok(value('wasmcustom.tokenwarden.provider.rot.cache.hit') >= 1);
    assert.ok(value('wasmcustom.tokenwarden.provider.rot.denied.invalid_audience') >= 1);
    assert.ok(value('wasmcustom.tokenwarden.provider.api_keys.denied.revoked_api_key') >= 1);
    assert.ok(value('wasmcustom.tokenwarden.provider.api_keys.allowed') >= 1);
    assert.equal(value('wasmcustom.tokenwarden.rate_limited'), 0);
    assert.ok(value('wasmcustom.tokenwarden.fetch.jwks.rot.ok') >= 2);
    assert.ok(value('wasmcustom.tokenwarden.fetch.discovery.disc.ok') >= 1);
    assert.ok(value('wasmcustom.tokenwarden.fetch.keys.ok') >= 2);
    assert.equal(value('wasmcustom.tokenwarden.fetch.jwks.stale.failed'), 0);
    assert.ok(value('wasmcustom.tokenwarden.key_age_seconds.jwks.stale') <= 2);
  });

  test('the JWKS server goes down: the last good keys stay in use, the outage is logged once', async () => {
    await docs.stop();
    await sleep(2500); // the 1 s sources fail a few times
    const res = await request(envoy.listenerPort, { headers: bearer(stale, { sub: 'during-outage' }) });
    assert.equal(res.status, 200, res.body);
    const s = await stats(envoy.adminPort);
    assert.ok(s.get('wasmcustom.tokenwarden.fetch.jwks.stale.failed') >= 2, s.text);
    assert.ok(s.get('wasmcustom.tokenwarden.key_age_seconds.jwks.stale') >= 2, s.text);
    await sleep(300); // the log file flushes every 100 ms
    const lines = (await envoy.log()).split('\n').filter((l) => l.includes('jwks:stale: fetch of /stale/jwks'));
    assert.equal(lines.length, 1, `one line per outage, got:\n${lines.join('\n')}`);
    assert.match(lines[0], /\[warning\]\[wasm\].*failed: .*the last good document stays in use/);
  });
});

test('a JWKS server that never answers: requests fail closed with 503 keys_unavailable', async () => {
  const docs = await startDocumentServer();
  docs.hang = true;
  const idp = es256Issuer();
  const envoy = await envoyWith(
    { providers: [provider('idp', idp, { remote: remote('/jwks', { timeout_ms: 300, refresh_secs: 1 }) })] },
    docs.port,
  );
  try {
    for (const wait of [0, 1500]) {
      await sleep(wait);
      const res = await request(envoy.listenerPort, { headers: bearer(idp) });
      assert.equal(res.status, 503, res.body);
      assert.equal(JSON.parse(res.body).error.code, 'keys_unavailable');
    }
    assert.ok(docs.count('/jwks') >= 1, 'the filter did ask');
    const s = await stats(envoy.adminPort);
    assert.ok(s.get('wasmcustom.tokenwarden.fetch.jwks.idp.failed') >= 1, s.text);
    assert.ok(s.get('wasmcustom.tokenwarden.denied.keys_unavailable') >= 2, s.text);
  } finally {
    await envoy.stop();
    await cleanup(envoy.dir);
    await docs.stop();
  }
});

test('a JWKS server down at start is picked up within seconds, not at the next refresh', async () => {
  const idp = es256Issuer({ issuer: 'https://late.e2e.test', kid: 'late-1' });
  const docs = await startDocumentServer({ '/late/jwks': idp.jwks });
  docs.hang = true;
  const envoy = await envoyWith(
    { providers: [provider('late', idp, { remote: remote('/late/jwks', { timeout_ms: 300, refresh_secs: 300 }) })] },
    docs.port,
  );
  try {
    await sleep(1500);
    docs.hang = false;
    // No request in between (a request would ask for a refetch itself): only the retry
    // schedule can load the keys before the 300 s refresh.
    await sleep(4500);
    const res = await request(envoy.listenerPort, { headers: bearer(idp) });
    assert.equal(res.status, 200, res.body);
    assert.ok(docs.count('/late/jwks') >= 2, 'retried after the failure at start');
  } finally {
    await envoy.stop();
    await cleanup(envoy.dir);
    await docs.stop();
  }
});

test('two filters with different configurations in one VM keep their documents apart', async () => {
  // Both name their provider `idp`, so both fetch ids are `jwks:idp`: only the configuration
  // scope of the shared-data keys keeps issuer A's keys from answering for issuer B.
  const a = es256Issuer({ issuer: 'https://a.e2e.test', kid: 'same' });
  const b = es256Issuer({ issuer: 'https://b.e2e.test', kid: 'same' });
  const docs = await startDocumentServer({ '/a/jwks': a.jwks, '/b/jwks': b.jwks });
  const [listenerPort, adminPort] = [await freePort(), await freePort()];
  const pluginA = { providers: [provider('idp', a, { remote: remote('/a/jwks') })], identity_headers: { sub: 'x-a-sub' } };
  const pluginB = {
    providers: [provider('idp', b, { remote: remote('/b/jwks') })],
    sources: [{ type: 'header', name: 'x-b-token' }],
    identity_headers: { sub: 'x-b-sub' },
  };
  const config = bootstrap({ listenerPort, adminPort, upstreamPort: upstream.port, pluginConfig: pluginA, clusters: { keys: docs.port } });
  const hcm = config.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  const second = structuredClone(hcm.http_filters[0]);
  second.name = 'tokenwarden-b';
  second.typed_config.config.configuration.value = JSON.stringify(pluginB);
  hcm.http_filters.splice(1, 0, second);
  const envoy = await startEnvoy({ config, listenerPort, adminPort });
  try {
    const headers = {
      authorization: `Bearer ${a.token({ sub: 'alice', aud: AUD })}`,
      'x-b-token': b.token({ sub: 'bob', aud: AUD }),
    };
    const res = await eventually(async () => {
      const r = await request(listenerPort, { headers });
      return r.status === 200 ? r : null;
    });
    assert.ok(res, 'both filters accept their own issuer');
    const seen = JSON.parse(res.body);
    assert.equal(seen.headers['x-a-sub'], 'alice');
    assert.equal(seen.headers['x-b-sub'], 'bob');
    const swapped = await request(listenerPort, {
      headers: { authorization: `Bearer ${b.token({ sub: 'bob', aud: AUD })}`, 'x-b-token': b.token({ sub: 'bob', aud: AUD }) },
    });
    assert.equal(swapped.status, 401, swapped.body);
  } finally {
    await envoy.stop();
    await cleanup(envoy.dir);
    await docs.stop();
  }
});
