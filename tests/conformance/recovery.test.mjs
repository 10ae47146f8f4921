// Both edges recover alike from key-source outages, because the fetch schedule is the core's
// (src/schedule.rs), not each host's: Envoy + the filter and workerd + the Worker run one
// configuration against one document server (a local node:http server playing the issuers'
// JWKS endpoints), which the test takes down, brings back, rotates and fills with garbage.
//
// - keys unreachable at start, then reachable: both accept within the retry curve's bound
//   (1, 2, 4 … s), far below `refresh_secs` (300 s here);
// - a rotation mid-traffic: a token with the new `kid` is accepted on both after the unknown-kid
//   refetch (refresh is 300 s, so only that refetch explains it), and one with the retired key
//   is refused alike;
// - a garbage document: both keep the last good keys, then fail closed once
//   `refresh + max_stale` has passed since the last good load;
// - a document served with an `ETag`: both ask again with `If-None-Match`, and the `304 Not
//   Modified` answers keep the keys in use past `refresh + max_stale`.
//
// Needs `make filter` and `make worker` (make conformance does both).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { bootstrap, cleanup, freePort, startEnvoy } from '../e2e/lib/envoy.mjs';
import { errorCode, request, sleep, startDocumentServer, startEchoServer } from '../e2e/lib/http.mjs';
import { es256Issuer } from '../e2e/lib/jwt.mjs';
import { startWorkerd } from '../e2e/lib/workerd.mjs';

const AUD = 'https://api.recovery.test';
const late = es256Issuer({ issuer: 'https://late.recovery.test', kid: 'late-1' });
const rot = es256Issuer({ issuer: 'https://rot.recovery.test', kid: 'rot-1' });
const rotNext = es256Issuer({ issuer: 'https://rot.recovery.test', kid: 'rot-2' });
const junk = es256Issuer({ issuer: 'https://junk.recovery.test', kid: 'junk-1' });
const tagged = es256Issuer({ issuer: 'https://tagged.recovery.test', kid: 'tagged-1' });
const TAG = '"tagged-v1"';
const faulty = es256Issuer({ issuer: 'https://faulty.recovery.test', kid: 'faulty-1' });
/** The tagged JWKS, at one path per edge so that each edge's requests can be told apart. */
const TAGGED = { envoy: '/tagged/envoy/jwks', worker: '/tagged/worker/jwks' };

/** The bound within which a source that comes back is used: the retries after the first
 * three failures are 1, 2 and 4 s apart, plus Envoy's 0.5 s tick and request spacing. */
const RECOVERY_BOUND_MS = 6000;

let origin;
let docs;
const edges = {};
const running = [];

before(async () => {
  origin = await startEchoServer();
  docs = await startDocumentServer({
    // `late` is down at start: the server answers 404 until the test serves its JWKS.
    '/rot/jwks': rot.jwks,
    '/junk/jwks': junk.jwks,
    [TAGGED.envoy]: tagged.jwks,
    [TAGGED.worker]: tagged.jwks,
    '/faulty/jwks': faulty.jwks,
  });
  Object.assign(docs.etags, { [TAGGED.envoy]: TAG, [TAGGED.worker]: TAG });
  const source = (path, extra = {}) => ({
    cluster: 'docs',
    url: `http://127.0.0.1:${docs.port}${path}`,
    path,
    timeout_ms: 500,
    refresh_secs: 300,
    ...extra,
  });
  const provider = (name, idp, jwks) => ({ name, issuer: idp.issuer, audiences: [AUD], algorithms: ['ES256'], jwks: { remote: jwks } });
  const gatewayConfig = {
    providers: [
      provider('late', late, source('/late/jwks')),
      provider('rot', rot, source('/rot/jwks')),
      provider('junk', junk, source('/junk/jwks', { refresh_secs: 1, max_stale_secs: 3 })),
      provider(
        'tagged',
        tagged,
        // Envoy fetches the cluster's path, the Worker the url.
        source(TAGGED.envoy, { url: `http://127.0.0.1:${docs.port}${TAGGED.worker}`, refresh_secs: 1, max_stale_secs: 2 }),
      ),
      provider('faulty', faulty, source('/faulty/jwks', { refresh_secs: 1, timeout_ms: 500, max_stale_secs: 60 })),
    ],
    cache: { max_entries: 0 },
  };
  const [listenerPort, adminPort, workerPort] = [await freePort(), await freePort(), await freePort()];
  const config = bootstrap({ listenerPort, adminPort, upstreamPort: origin.port, pluginConfig: gatewayConfig, clusters: { docs: docs.port } });
  running.push(
    ...(await Promise.all([
      startEnvoy({ config, listenerPort, adminPort }),
      startWorkerd({ port: workerPort, origin: `http://127.0.0.1:${origin.port}`, gatewayConfig }),
    ])),
  );
  Object.assign(edges, { envoy: listenerPort, worker: workerPort });
});

after(async () => {
  await Promise.all(running.map((edge) => edge.stop()));
  await Promise.all(running.map((edge) => cleanup(edge.dir)));
  await origin?.stop();
  await docs?.stop();
});

const bearer = (idp, claims = {}) => ({ authorization: `Bearer ${idp.token({ sub: 'u', aud: AUD, ...claims })}` });

/** The status and error code each edge answers for the same request. */
async function answers(headers) {
  const out = {};
  for (const [edge, port] of Object.entries(edges)) {
    const res = await request(port, { headers });
    out[edge] = { status: res.status, code: res.status === 200 ? undefined : errorCode(res) };
  }
  return out;
}

/** Polls every edge until each answers `status`; resolves to the ms each one took. */
async function untilEach(status, headers, ms) {
  const start = Date.now();
  const took = {};
  while (Date.now() - start < ms && Object.keys(took).length < Object.keys(edges).length) {
    const seen = await answers(headers());
    for (const [edge, a] of Object.entries(seen)) if (a.status === status && took[edge] === undefined) took[edge] = Date.now() - start;
    await sleep(100);
  }
  return took;
}

test('keys unreachable at start, then reachable: both edges refuse alike, then accept within the same bound', async () => {
  const down = await answers(bearer(late));
  assert.deepEqual(down.envoy, { status: 503, code: 'keys_unavailable' });
  assert.deepEqual(down.worker, down.envoy, 'the same refusal on both edges');
  await sleep(2000); // a few failed fetches on each edge: the retries are now seconds apart
  docs.docs['/late/jwks'] = late.jwks;
  const took = await untilEach(200, () => bearer(late), RECOVERY_BOUND_MS + 4000);
  for (const edge of Object.keys(edges)) {
    assert.ok(took[edge] !== undefined && took[edge] <= RECOVERY_BOUND_MS, `${edge} accepted after ${took[edge]} ms (bound ${RECOVERY_BOUND_MS} ms)`);
  }
});

test('a rotation mid-traffic: the new kid is accepted and the retired key refused, alike on both edges', async () => {
  const before = await answers(bearer(rot));
  assert.deepEqual(before, { envoy: { status: 200, code: undefined }, worker: { status: 200, code: undefined } });
  docs.docs['/rot/jwks'] = rotNext.jwks; // the issuer rotates: only rot-2 is published now
  const took = await untilEach(200, () => bearer(rotNext), 4000);
  for (const edge of Object.keys(edges)) assert.ok(took[edge] !== undefined, `${edge} never accepted the rotated key`);
  const retired = await answers(bearer(rot));
  assert.deepEqual(retired.envoy, { status: 401, code: 'unknown_key' });
  assert.deepEqual(retired.worker, retired.envoy);
});

test('a garbage document keeps the last good keys on both edges, until max_stale_secs has passed', async () => {
  assert.deepEqual(await answers(bearer(junk)), { envoy: { status: 200, code: undefined }, worker: { status: 200, code: undefined } });
  const loadedBy = Date.now();
  docs.docs['/junk/jwks'] = '<html>maintenance</html>';
  await sleep(1500); // at least one refresh (every 1 s) met the garbage on each edge
  const kept = await answers(bearer(junk));
  assert.deepEqual(kept, { envoy: { status: 200, code: undefined }, worker: { status: 200, code: undefined } }, 'the last good keys stay in use');
  // refresh (1 s) + max_stale (3 s) after the last good load, both fail closed.
  await sleep(Math.max(0, loadedBy + 5500 - Date.now()));
  const closed = await answers(bearer(junk));
  assert.deepEqual(closed.envoy, { status: 503, code: 'keys_unavailable' });
  assert.deepEqual(closed.worker, closed.envoy);
});

test('a document served with an ETag is asked for with If-None-Match, and the 304s keep it in use on both edges', async () => {
  const ok = { envoy: { status: 200, code: undefined }, worker: { status: 200, code: undefined } };
  // The Worker fetches only when asked: after the previous test's quiet sleeps its first
  // request may find the keys too old and start a refetch, whose 304 makes them usable again.
  const took = await untilEach(200, () => bearer(tagged), 3000);
  for (const edge of Object.keys(edges)) assert.ok(took[edge] !== undefined, `${edge} never accepted`);
  const start = Date.now();
  // Requests throughout (the Worker fetches only when asked), well past refresh (1 s) +
  // max_stale (2 s) after the only 200: every one is accepted on both edges.
  while (Date.now() - start < 5000) {
    assert.deepEqual(await answers(bearer(tagged)), ok, `${Date.now() - start} ms in`);
    await sleep(250);
  }
  for (const [edge, path] of Object.entries(TAGGED)) {
    const asked = docs.requests.filter((r) => r.url === path);
    assert.equal(asked[0]?.headers['if-none-match'], undefined, `${edge}: the first fetch is unconditional`);
    const conditional = asked.filter((r) => r.headers['if-none-match'] === TAG).length;
    assert.ok(conditional >= 3, `${edge}: ${conditional} of ${asked.length} fetches sent If-None-Match ${TAG}`);
  }
});

test('a JWKS answering 500, then past the timeout, dropping the connection mid-body, past the timeout, then a 50 MB document: both edges keep the last good keys, log the outage once, and recover within a poll', async () => {
  const ok = { envoy: { status: 200, code: undefined }, worker: { status: 200, code: undefined } };
  const took = await untilEach(200, () => bearer(faulty), 4000);
  for (const edge of Object.keys(edges)) assert.ok(took[edge] !== undefined, `${edge} never accepted`);
  const path = '/faulty/jwks';
  for (const fault of [{ status: 500 }, { reset: true }, { hang: true }, { bytes: 50 << 20 }]) {
    docs.faults[path] = fault;
    const asked = docs.count(path);
    // Requests throughout: the Worker fetches only when asked; refresh is 1 s.
    const until = Date.now() + 2500;
    while (Date.now() < until) {
      assert.deepEqual(await answers(bearer(faulty)), ok, `during ${JSON.stringify(fault)}`);
      await sleep(250);
    }
    assert.ok(docs.count(path) >= asked + 2, `both edges met ${JSON.stringify(fault)}`);
  }
  delete docs.faults[path];
  // The retries of an outage are capped at refresh (1 s): back within a poll or two.
  const recovered = (lines) => lines.filter((l) => l.includes('jwks:faulty: fetched again after')).length;
  const logs = async () => ({ envoy: (await running[0].log()).split('\n'), worker: running[1].lines() });
  const deadline = Date.now() + 4000;
  while (Date.now() < deadline) {
    await answers(bearer(faulty));
    const l = await logs();
    if (recovered(l.envoy) && recovered(l.worker)) break;
    await sleep(200);
  }
  for (const [edge, lines] of Object.entries(await logs())) {
    const started = lines.filter((l) => l.includes('jwks:faulty: fetch of') && l.includes('failed'));
    assert.equal(started.length, 1, `${edge}: one line for the outage's start: ${started.join(' | ')}`);
    assert.equal(recovered(lines), 1, `${edge}: one line when it ends`);
  }
});
