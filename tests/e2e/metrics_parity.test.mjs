// Both edges count the same things under the same names: the same requests sent to Envoy + the
// filter and to workerd + the Worker (its TOKENWARDEN_METRICS Analytics Engine dataset played by
// a console stand-in, lib/analytics_engine.mjs) give the same totals per counter: Envoy's
// /stats against the sum of the Worker's data points.
//
// Needs `make filter` and `make worker`.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { stats } from './lib/envoy.mjs';
import { ask, startHosts } from './lib/hosts.mjs';
import { sleep, startDocumentServer, startEchoServer } from './lib/http.mjs';
import { es256Issuer } from './lib/jwt.mjs';

const AUD = 'https://api.metrics.test';
const idp = es256Issuer({ issuer: 'https://idp.metrics.test', kid: 'm-1' });
let origin;
let docs;
let started;

before(async () => {
  origin = await startEchoServer();
  docs = await startDocumentServer({ '/jwks': idp.jwks });
  const gatewayConfig = {
    providers: [
      {
        name: 'idp',
        issuer: idp.issuer,
        audiences: [AUD],
        jwks: { remote: { cluster: 'docs', url: `http://127.0.0.1:${docs.port}`, path: '/jwks', timeout_ms: 1000 } },
      },
    ],
    rate_limits: [{ limit: '3/minute' }],
  };
  started = await startHosts({ gatewayConfig, originPort: origin.port, clusters: { docs: docs.port }, metrics: true });
});
after(async () => {
  await started?.stop();
  await docs?.stop();
  await origin?.stop();
});

/** Envoy's counters, without the `wasmcustom.` prefix Envoy gives a plugin's stats. */
async function envoyCounters() {
  return new Map([...(await stats(started.adminPort))].map(([name, n]) => [name.replace(/^wasmcustom\./, ''), n]));
}

/** What each counter added since `before`. */
const since = (now, before) => new Map([...now].map(([name, n]) => [name, n - (before.get(name) ?? 0)]));

/** The Worker's counters: the sum of double1 per name over its data points so far. */
function workerCounters() {
  const out = new Map();
  for (const line of started.worker.lines()) {
    const at = line.indexOf('analytics-engine {');
    if (at < 0) continue;
    const point = JSON.parse(line.slice(at + 'analytics-engine '.length));
    assert.deepEqual(point.indexes, [point.blobs[0]], 'the counter name is the index');
    out.set(point.blobs[0], (out.get(point.blobs[0]) ?? 0) + point.doubles[0]);
  }
  return out;
}

test('Envoy and the Worker count the same decisions under the same names', async () => {
  const now = Math.floor(Date.now() / 1000);
  const token = idp.token({ sub: 'u-1', aud: AUD });
  const requests = [
    { headers: { authorization: `Bearer ${token}` } },
    { headers: { authorization: `Bearer ${token}` } }, // a cache hit
    { headers: { authorization: `Bearer ${token}` } },
    { headers: { authorization: `Bearer ${token}` } }, // over 3/minute
    { headers: { authorization: `Bearer ${idp.token({ sub: 'u-2', aud: AUD, iat: now - 7200, exp: now - 3600 })}` } },
    { headers: { authorization: `Bearer ${idp.token({ sub: 'u-3', aud: 'https://elsewhere.test' })}` } },
    {},
  ];
  // Both edges load the remote JWKS in the background: wait for it, then count from there.
  const warm = { headers: { authorization: `Bearer ${idp.token({ sub: 'warm', aud: AUD })}` } };
  for (const host of ['envoy', 'worker']) {
    for (let i = 0; i < 100 && (await ask(started.hosts[host], warm)).status !== 200; i += 1) await sleep(100);
  }
  await sleep(300);
  const [envoyBefore, workerBefore] = [await envoyCounters(), workerCounters()];
  for (const host of ['envoy', 'worker']) {
    for (const r of requests) await ask(started.hosts[host], r);
  }
  let envoy;
  let worker;
  for (let i = 0; i < 40; i += 1) {
    [envoy, worker] = [since(await envoyCounters(), envoyBefore), since(workerCounters(), workerBefore)];
    if ((worker.get('tokenwarden.denied.missing_credentials') ?? 0) >= 1 && (envoy.get('tokenwarden.denied.missing_credentials') ?? 0) >= 1) break;
    await sleep(50);
  }
  const decisions = (m) => Object.fromEntries([...m].filter(([name, n]) => n > 0 && !name.includes('.fetch.') && !name.includes('key_age')).sort());
  assert.deepEqual(decisions(worker), decisions(envoy));
  for (const name of ['tokenwarden.allowed', 'tokenwarden.rate_limited', 'tokenwarden.cache.hit', 'tokenwarden.provider.idp.denied.expired_token', 'tokenwarden.denied.missing_credentials']) {
    assert.ok(worker.get(name) >= 1, `${name} counted`);
  }
  // Fetches follow each host's clock, so only their names and outcomes are compared.
  assert.ok((await envoyCounters()).get('tokenwarden.fetch.jwks.idp.ok') >= 1, 'Envoy fetched the JWKS');
  assert.ok(workerCounters().get('tokenwarden.fetch.jwks.idp.ok') >= 1, 'the Worker fetched the JWKS');
});
