// The platform profiles (examples/platforms/<platform>/) as their customers meet them: each
// profile's own gateway.json, served documents (key store, JWKS, revoked-token list) and keys,
// run on Envoy + the filter, workerd + the Worker and `tokenwarden decide`, with every request
// shape its guide (shared/reference) documents. Each case asserts the guide's status, body
// (JSON-equal) and headers on every host, and the hosts must agree.
//
// The platforms' own endpoints (auth.gopie.app's JWKS, the key service) are played by a local
// document server: the test points each remote source of the profile at it, and changes
// nothing else in the profile. Signing keys of RS256 issuers are made here; HS256 secrets are
// the profile's demo secrets.
//
// Needs `make filter worker` and the CLI (make conformance builds all three).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { ask, startHosts, withLocalSources } from '../e2e/lib/hosts.mjs';
import { sleep, startDocumentServer, startEchoServer } from '../e2e/lib/http.mjs';
import { profileJson } from './profile.mjs';

/** One module per profile; TOKENWARDEN_PLATFORMS=gopie,olytix runs some. */
const NAMES = (process.env.TOKENWARDEN_PLATFORMS ?? 'gopie,company-datasets,example-api,olytix,datapulse').split(',');
const PLATFORMS = await Promise.all(NAMES.map(async (name) => (await import(`./${name}.mjs`)).default));
const COMPARED_HEADERS = ['content-type', 'www-authenticate', 'retry-after', 'x-ratelimit-limit', 'x-ratelimit-remaining'];

/** What the client and the origin saw, comparable between hosts. */
function view(res) {
  const v = { status: res.status, headers: {} };
  for (const h of COMPARED_HEADERS) if (res.headers[h] !== undefined) v.headers[h] = res.headers[h];
  if (res.status === 200 && res.headers['x-echo'] === '1') {
    const seen = JSON.parse(res.body);
    v.url = seen.url;
    v.upstream = Object.fromEntries(Object.entries(seen.headers).filter(([n]) => /^(x-auth-|x-gopie-|x-company-|authorization$)/.test(n)).sort());
  } else {
    v.body = JSON.parse(res.body);
  }
  return v;
}

function check(host, v, expect) {
  const where = `${host}: ${JSON.stringify(v)}`;
  assert.equal(v.status, expect.status, where);
  if (expect.status === 200) assert.ok(v.upstream, `${host}: the request must reach the origin`);
  else assert.equal(v.upstream, undefined, `${host}: a refused request must not reach the origin`);
  if (expect.body) {
    const body = typeof expect.body === 'function' ? expect.body(v) : expect.body;
    assert.deepEqual(v.body, body, where);
  }
  for (const [name, want] of Object.entries(expect.headers ?? {})) {
    if (want instanceof RegExp) assert.match(v.headers[name] ?? '', want, `${host}: ${name}`);
    else assert.equal(v.headers[name], want, `${host}: ${name}`);
  }
  for (const [name, want] of Object.entries(expect.upstream ?? {})) assert.equal(v.upstream[name], want ?? undefined, `${host}: upstream ${name}`);
  if (expect.url) assert.equal(v.url, expect.url, `${host}: url`);
  if (expect.code) assert.equal(v.body?.error?.code, expect.code, where);
}

/**
 * A rate limit of `limit` per `windowMs`, tested on one host: `count` requests as fast as the
 * host answers. A bucket refills while they are sent, so at most `limit` plus the refills of
 * the elapsed time may pass (at least `limit` when the bucket was `fresh`), and the rest must be
 * the documented refusal. Resolves to the view of the last refusal.
 */
async function burst(host, target, { request, burst: { count, limit, windowMs, fresh = false }, expect }) {
  const started = Date.now();
  const views = [];
  for (let i = 0; i < count; i += 1) views.push(view(await ask(target, request)));
  const refills = Math.floor(((Date.now() - started) * limit) / windowMs) + 1;
  const passed = views.filter((v) => v.status === 200).length;
  assert.ok(passed <= limit + refills, `${host}: ${passed} of ${count} passed, limit ${limit} + ${refills} refills`);
  if (fresh) assert.ok(passed >= limit, `${host}: only ${passed} passed of a fresh bucket of ${limit}`);
  const refused = views.filter((v) => v.status !== 200);
  assert.ok(refused.length > 0, `${host}: nothing was refused`);
  for (const v of refused) check(host, v, expect);
  return refused.at(-1);
}

let origin;
before(async () => {
  origin = await startEchoServer();
  origin.prependListener('request', (req, res) => res.setHeader('x-echo', '1'));
});
after(async () => origin?.stop());

for (const platform of PLATFORMS) {
  describe(platform.name, () => {
    let docs;
    let started;
    const ctx = platform.context();
    before(async () => {
      docs = await startDocumentServer(platform.documents(ctx));
      const gatewayConfig = withLocalSources(profileJson(platform.dir, 'gateway.json'), docs.port);
      started = await startHosts({ gatewayConfig, originPort: origin.port, clusters: { docs: docs.port } });
      // The edges load remote documents in the background: wait until both have them. The CLI
      // is sent the warm-up request once too, so every host's rate-limit buckets start alike.
      for (const host of Object.values(started.hosts)) {
        const deadline = Date.now() + 10000;
        while ((await ask(host, platform.warmup(ctx))).status === 503 && Date.now() < deadline) await sleep(100);
      }
    });
    after(async () => {
      await started?.stop();
      await docs?.stop();
    });
    for (const c of platform.cases(ctx)) {
      test(c.name, async () => {
        const names = Object.keys(started.hosts);
        const views = [];
        for (const name of names) views.push(c.burst ? await burst(name, started.hosts[name], c) : view(await ask(started.hosts[name], c.request)));
        names.forEach((name, i) => check(name, views[i], c.expect));
        // Hosts are asked a few milliseconds apart, and a bucket may refill in between: the
        // seconds to wait and the requests left may differ by one.
        const same = (v) => {
          for (const h of ['retry-after', 'x-ratelimit-remaining']) {
            if (v.headers[h] === undefined && views[0].headers[h] === undefined) continue;
            assert.ok(Math.abs(Number(v.headers[h]) - Number(views[0].headers[h])) <= 1, `${h}: ${v.headers[h]} and ${views[0].headers[h]}`);
          }
          const text = JSON.stringify({ ...v, headers: { ...v.headers, 'retry-after': undefined, 'x-ratelimit-remaining': undefined } });
          return JSON.parse(text.replaceAll(/Retry after \d+ seconds/g, 'Retry after N seconds'));
        };
        for (const [i, v] of views.entries()) assert.deepEqual(same(v), same(views[0]), `${names[i]} and ${names[0]} must give the same answer`);
      });
    }
  });
}
