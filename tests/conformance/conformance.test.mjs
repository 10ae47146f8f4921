// Runs the conformance table (cases.mjs) against both edges: Envoy + the filter and workerd + the
// Worker — the latter twice, with per-isolate rate limits and with the RateLimiter Durable
// Object — each in front of the same echo origin; and against `tokenwarden decide`, the CLI host
// (its decision turned into the answer an edge would give: the reply, or what the origin would
// receive). Every case must meet its expectation on each
// edge, and the answers must be identical (status, body, compared response headers, and for
// a forwarded request the URL and identity/credential headers the origin received): a
// disagreement fails the case even when both happen to meet the expectation.
//
// Needs `make filter` and `make worker` (make conformance does both).

import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';

import { freePort } from '../e2e/lib/envoy.mjs';
import { ask, send, startHosts } from '../e2e/lib/hosts.mjs';
import { startDocumentServer, startEchoServer } from '../e2e/lib/http.mjs';
import { differences, discIdp, groups, keyService, keyStore, remoteIdp } from './cases.mjs';

/** Response headers compared between the edges (others — date, server, via — differ by design). */
const RESPONSE_HEADERS = ['content-type', 'www-authenticate', 'retry-after', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'];
/** Origin request headers compared between the edges: identity, credentials, and test markers. */
const UPSTREAM_HEADER = /^(x-auth-|x-user|x-api-key$|authorization$|cookie$|x-other$|x-client-ip$)/;

/** The comparable view of one answer. */
function view(res) {
  const v = { status: res.status, headers: {}, body: res.body };
  for (const h of RESPONSE_HEADERS) if (res.headers[h] !== undefined) v.headers[h] = res.headers[h];
  if (res.status === 200 && res.headers['x-echo'] === '1') {
    const seen = JSON.parse(res.body);
    v.body = undefined;
    v.url = seen.url;
    v.upstream = Object.fromEntries(Object.entries(seen.headers).filter(([n]) => UPSTREAM_HEADER.test(n)).sort());
  } else {
    v.code = codeOf(res.body);
  }
  return v;
}

function codeOf(body) {
  try {
    const b = JSON.parse(body);
    return b.error?.code ?? b.errors?.[0]?.code;
  } catch {
    return undefined;
  }
}

/** Asserts one edge's answer against the case's expectation. */
function check(edge, v, expect) {
  const where = `${edge}: ${JSON.stringify(v)}`;
  assert.equal(v.status, expect.status, where);
  if (expect.status === 200) assert.ok(v.upstream, `${edge}: the request must reach the origin`);
  else assert.equal(v.upstream, undefined, `${edge}: a refused request must not reach the origin`);
  if (expect.code) assert.equal(v.code, expect.code, where);
  if (expect.body) assert.equal(v.body, expect.body, where);
  for (const [name, want] of Object.entries(expect.headers ?? {})) {
    if (want instanceof RegExp) assert.match(v.headers[name] ?? '', want, `${edge}: ${name}`);
    else assert.equal(v.headers[name], want, `${edge}: ${name}`);
  }
  for (const [name, want] of Object.entries(expect.upstream ?? {})) {
    assert.equal(v.upstream[name], want ?? undefined, `${edge}: upstream ${name}`);
  }
  for (const name of expect.upstreamHas ?? []) assert.ok(v.upstream[name], `${edge}: upstream ${name}`);
  if (expect.url) assert.equal(v.url, expect.url, `${edge}: url`);
  if (expect.retryAfterInBody) {
    const seconds = v.headers['retry-after'];
    assert.match(seconds ?? '', /^\d+$/, `${edge}: retry-after`);
    assert.equal(JSON.parse(v.body).error.message, `Rate limit exceeded. Retry after ${seconds} seconds`, `${edge}: the message's number is the Retry-After`);
  }
}

let origin;
let docs;
let introspection;
let keys;
let deadPort;
before(async () => {
  origin = await startEchoServer();
  // The echo server's answers are marked, so a refusal can never pass for a forwarded request.
  origin.prependListener('request', (req, res) => res.setHeader('x-echo', '1'));
  docs = await startDocumentServer({
    '/remote/jwks': remoteIdp.jwks,
    '/disc/.well-known/openid-configuration': { issuer: discIdp.issuer, jwks_uri: `${discIdp.issuer}/disc/jwks` },
    '/disc/jwks': discIdp.jwks,
    '/keys.json': keyStore(),
    '/revoked.json': { version: 1, jti: ['deleted-api-token'], subjects: [] },
    '/revoked-keys.json': { version: 1, api_keys: ['key_limited'] },
  });
  introspection = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const token = new URLSearchParams(body).get('token');
      const exp = Math.floor(Date.now() / 1000) + 600;
      const answers = {
        'opaque-good': { active: true, sub: 'svc-7', scope: 'read:reports', client_id: 'reporting', exp },
        // The minimal RFC 7662 shape many servers answer: no sub.
        'opaque-minimal': { active: true, scope: 'read:reports', exp, client_id: 'mobile-app', username: 'jdoe' },
        'opaque-other-client': { active: true, sub: 'svc-9', scope: 'read:reports', client_id: 'someone-else', exp },
      };
      const answer = answers[token] ?? { active: false };
      if (token === 'opaque-outage') res.writeHead(500).end();
      else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
    });
  });
  introspection.listen(0, '127.0.0.1');
  await once(introspection, 'listening');
  // A key service for lookup-on-miss API keys (a small stand-in, as the introspection server
  // above): GET /v1/keys/<sha256 hex> answers the record, 404, or what keyService() says.
  keys = http.createServer((req, res) => {
    const answer = keyService(req.method === 'GET' ? req.url : '');
    if (answer.status !== 200) res.writeHead(answer.status).end();
    else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer.record));
  });
  keys.listen(0, '127.0.0.1');
  await once(keys, 'listening');
  deadPort = await freePort(); // nothing listens there
});
after(async () => {
  await origin?.stop();
  await docs?.stop();
  introspection?.closeAllConnections();
  introspection?.close();
  keys?.closeAllConnections();
  keys?.close();
});

/** Repeats a request on an edge until it is not 503 (remote documents still loading). */
async function warm(port, request, ms = 8000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if ((await send(port, request)).status !== 503) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Every code the gateway can answer at the edge. `invalid_config` is not in the table: Envoy
 * refuses to start with a bad configuration while the Worker answers 503 (worker.test.mjs). The
 * other codes of the core (webhooks, OAuth, sessions, `invalid_key`) are not edge decisions.
 */
const EDGE_CODES = [
  'missing_credentials', 'invalid_request', 'malformed_token', 'token_too_large', 'invalid_signature',
  'unsupported_algorithm', 'unknown_key', 'expired_token', 'token_not_yet_valid', 'token_too_old',
  'invalid_issuer', 'invalid_audience', 'invalid_token_type', 'invalid_claim', 'invalid_api_key',
  'revoked_api_key', 'expired_api_key', 'wrong_environment', 'ip_not_allowed', 'insufficient_scope',
  'access_denied', 'rate_limited', 'keys_unavailable', 'inactive_token', 'revoked_token',
];

test('the table covers every edge error code and at least 80 cases', () => {
  const cases = groups.flatMap((g) => g.cases);
  const covered = new Set(cases.map((c) => c.expect.code).filter(Boolean));
  assert.deepEqual(EDGE_CODES.filter((code) => !covered.has(code)), []);
  assert.ok(cases.length >= 80, `${cases.length} cases`);
});

const totals = { cases: 0, agreed: 0 };

/**
 * Starts the edges with the group's configuration: Envoy + the filter (`envoy`), workerd + the
 * Worker with per-isolate rate limits (`worker`), and workerd + the Worker with its limits in
 * the RateLimiter Durable Object (`worker+do`). Resolves to `{ name: port }`.
 */
function edgesFor(group) {
  const ports = {};
  let started;
  before(async () => {
    const servers = { docs: docs.port, introspection: introspection.address().port, keyservice: keys.address().port, dead: deadPort };
    started = await startHosts({ gatewayConfig: group.config(servers), originPort: origin.port, clusters: servers, durable: true });
    Object.assign(ports, started.hosts);
    // The edges fetch in the background; the CLI fetches before it decides.
    const edges = Object.values(started.hosts).filter((h) => typeof h === 'number');
    for (const request of group.warmup ?? []) await Promise.all(edges.map((port) => warm(port, request)));
  });
  after(async () => started?.stop());
  return ports;
}

describe(differences.name, () => {
  const ports = edgesFor(differences);
  for (const c of differences.cases) {
    test(c.name, async () => {
      // Differences of the runtimes in front of the decision: the CLI has none to show.
      for (const [edge, port] of Object.entries(ports)) if (edge !== 'cli') check(edge, view(await send(port, c.request)), c[edge.startsWith('worker') ? 'worker' : 'envoy']);
    });
  }
});

for (const group of groups) {
  describe(group.name, () => {
    const ports = edgesFor(group);

    for (const c of group.cases) {
      test(c.name, async () => {
        totals.cases += 1;
        const edges = Object.keys(ports);
        const views = (await Promise.all(edges.map((edge) => ask(ports[edge], c.request)))).map(view);
        edges.forEach((edge, i) => check(edge, views[i], c.expect));
        const [reference, ...others] = views;
        for (const [i, v] of others.entries()) {
          const edge = edges[i + 1];
          // Seconds until a bucket refills are read a few milliseconds apart on two edges.
          for (const h of ['retry-after', 'x-ratelimit-reset']) {
            if (reference.headers[h] === undefined && v.headers[h] === undefined) continue;
            assert.ok(Math.abs(Number(reference.headers[h]) - Number(v.headers[h])) <= 1, `${h}: envoy ${reference.headers[h]}, ${edge} ${v.headers[h]}`);
          }
          // A body may carry the edge's own Retry-After (checked above against its header).
          const same = (x) => ({
            ...x,
            body: x.headers['retry-after'] === undefined ? x.body : x.body?.replaceAll(x.headers['retry-after'], '{retry_after}'),
            headers: { ...x.headers, 'retry-after': undefined, 'x-ratelimit-reset': undefined },
          });
          assert.deepEqual(same(v), same(reference), `Envoy and ${edge} must give the same answer`);
        }
        totals.agreed += 1;
      });
    }
  });
}

after(() => {
  console.log(`conformance: ${totals.agreed}/${totals.cases} cases met and agreed on every host (Envoy, Worker, Worker + Durable Object, tokenwarden decide)`);
});
