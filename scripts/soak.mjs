// Soak: load without wrong answers. Envoy + the filter (--concurrency 1) and workerd + the Worker,
// one after the other, each for SOAK_SECS (60) under SOAK_CONNECTIONS (256) keep-alive connections,
// one gateway configuration for both. Every request is one of the cases below, drawn at random with
// equal weights: valid JWTs of two issuers (several subs), expired, forged, wrong-audience, revoked
// (jti) and under-scoped JWTs, no credential, API keys of each type and prefix (sk/pk/rk, live and
// test, a custom dp_live_ prefix) made by `tokenwarden keys create`, revoked keys (record and
// revoked-tokens list), an expired and an unknown key, and two rate-limited callers (a key's own
// 50/minute, a rule's 30/minute for one sub).
//
// - The client compares every answer with its case: status, and the error code of a refusal.
// - The upstream (a child process, so the load generator's event loop does not distort it) checks
//   every forwarded request's identity headers against `x-soak-expect`, the identity the client
//   sent: a mismatch, or a request that should have been refused, is counted. Half the requests
//   also carry forged x-auth-* headers: the upstream must see the edge's values, never the client's.
// - Every 5 s: req/s, p50/p99 latency of the window, the edge's RSS and CPU.
//
// Writes target/soak/report.json; exits 1 on any wrong decision, 5xx, identity mismatch, transport
// error, rate-limit count outside its bound, or a filter panic. SOAK_EDGES=envoy,worker picks edges.

import { execFileSync, fork } from 'node:child_process';
import { once } from 'node:events';
import { createReadStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { apiKey } from '../tests/e2e/lib/apikeys.mjs';
import { bootstrap, cleanup, freePort, REPO, startEnvoy, tempDir } from '../tests/e2e/lib/envoy.mjs';
import { CLI as DEFAULT_CLI } from '../tests/e2e/lib/hosts.mjs';
import { es256Issuer, issuerFor } from '../tests/e2e/lib/jwt.mjs';
import { startWorkerd } from '../tests/e2e/lib/workerd.mjs';

const SECS = Number(process.env.SOAK_SECS ?? 60);
const CONNECTIONS = Number(process.env.SOAK_CONNECTIONS ?? 256);
const EDGES = (process.env.SOAK_EDGES ?? 'envoy,worker').split(',').map((e) => e.trim());
const CLI = process.env.TOKENWARDEN_CLI ?? DEFAULT_CLI;
const OUT = path.resolve(REPO, process.env.CARGO_TARGET_DIR ?? 'target', 'soak');
const SAMPLE_MS = 5000;
const AUD = 'https://api.soak.test';
/** The identity headers the edges set (docs/configuration.md, `identity_headers`). */
const IDENTITY = ['x-auth-sub', 'x-auth-scopes', 'x-auth-key-id', 'x-auth-credential', 'x-auth-issuer', 'x-auth-env', 'x-auth-rule', 'x-auth-dataset'];

if (!(SECS > 0 && Number.isInteger(CONNECTIONS) && CONNECTIONS > 0)) throw new Error('SOAK_SECS and SOAK_CONNECTIONS must be positive');
if (!EDGES.every((e) => ['envoy', 'worker'].includes(e))) throw new Error(`SOAK_EDGES: envoy and/or worker, not ${EDGES}`);
/** What is running, stopped if the run fails or is interrupted (Envoy and workerd are stopped by PID). */
const running = new Set();
const stopAll = async (code) => {
  for (const p of running) await p.stop().catch(() => {});
  process.exit(code);
};
if (process.argv[2] === '--upstream') upstream();
else {
  process.on('SIGINT', () => stopAll(130));
  main().catch((e) => {
    console.error(e);
    stopAll(2);
  });
}

/** The origin, in its own process: answers 200 and checks what the edge forwarded. */
function upstream() {
  const r = { forwarded: 0, forgedHeadersStripped: 0, mismatches: 0, shouldHaveBeenRefused: 0, examples: [] };
  const perCase = {}; // three examples per case at most
  const note = (what) => (perCase[what.case] = (perCase[what.case] ?? 0) + 1) <= 3 && r.examples.push(what);
  const server = http.createServer((req, res) => {
    r.forwarded += 1;
    let e = null;
    try {
      e = JSON.parse(req.headers['x-soak-expect']);
    } catch {}
    if (!e?.forward) {
      r.shouldHaveBeenRefused += 1;
      note({ case: e?.c ?? '(no x-soak-expect)', url: req.url, problem: 'forwarded, should have been refused' });
    } else {
      const wrong = IDENTITY.filter((h) => req.headers[h] !== (e.identity[h] ?? undefined));
      if (wrong.length === 0 && req.headers['x-soak-forged']) r.forgedHeadersStripped += 1;
      if (wrong.length > 0) {
        r.mismatches += 1;
        note({ case: e.c, url: req.url, headers: Object.fromEntries(wrong.map((h) => [h, { expected: e.identity[h] ?? null, got: req.headers[h] ?? null }])) });
      }
    }
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'text/plain', 'x-soak-upstream': '1' }).end('ok'));
  });
  server.keepAliveTimeout = 120_000;
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
  process.on('message', () => process.send({ report: r }));
  process.on('disconnect', () => process.exit(0));
}

/** Keys from the CLI into one store; the expired key's record is edited (keys create only sets future expiries). */
function makeKeys(dir) {
  const store = path.join(dir, 'keys.json');
  const create = (...args) => JSON.parse(execFileSync(CLI, ['keys', 'create', '--name', 'soak', ...args, '--store', store], { stdio: ['ignore', 'pipe', 'ignore'] }));
  const k = {
    skLive: create('--type', 'sk', '--env', 'live'),
    skTest: create('--type', 'sk', '--env', 'test'),
    pkLive: create('--type', 'pk', '--env', 'live'),
    rkLive: create('--type', 'rk', '--env', 'live', '--permissions', 'read:datasets.sales,update:datasets.sales'),
    custom: create('--type', 'rk', '--env', 'live', '--prefix', 'dp_live_', '--permissions', 'read:datasets'),
    limited: create('--type', 'sk', '--env', 'live', '--rate-limit', '50/minute'),
    revoked: create('--type', 'sk', '--env', 'live'),
    listed: create('--type', 'sk', '--env', 'live'),
  };
  execFileSync(CLI, ['keys', 'revoke', k.revoked.record.id, '--store', store], { stdio: 'ignore' });
  const doc = JSON.parse(readFileSync(store, 'utf8'));
  k.expired = apiKey({ type: 'sk', env: 'live', expires_at: Math.floor(Date.now() / 1000) - 60 });
  doc.keys.push(k.expired.record);
  return { k, store: doc };
}

/** The cases: what is sent, and what must come back (and, if forwarded, reach the upstream). */
function fixtures(dir) {
  const rs = issuerFor('RS256', { issuer: 'https://rs.soak.test', kid: 'rs-1' });
  const es = es256Issuer({ issuer: 'https://es.soak.test', kid: 'es-1' });
  const forger = issuerFor('RS256', { issuer: rs.issuer, kid: 'rs-1' }); // same kid, another key
  const now = Math.floor(Date.now() / 1000);
  const exp = now + EDGES.length * SECS + 3600;
  const { k, store } = makeKeys(dir);
  const config = {
    realm: 'soak',
    providers: [
      { name: 'rs', issuer: rs.issuer, audiences: [AUD], jwks: { inline: rs.jwks } },
      { name: 'es', issuer: es.issuer, audiences: [AUD], jwks: { inline: es.jwks } },
    ],
    api_keys: { store: { inline: store }, environments: ['live', 'test'], prefixes: [{ prefix: 'dp_live_', type: 'rk', env: 'live' }] },
    revoked_tokens: { inline: { version: 1, jti: ['soak-revoked'], subjects: [], api_keys: [k.listed.record.id] } },
    sources: [{ type: 'bearer' }, { type: 'header', name: 'x-api-key' }],
    policy: {
      unmatched: 'deny',
      rules: [
        { name: 'read', method: 'GET', path: '/v1/datasets/{dataset}', require: ['read:datasets.{dataset}'] },
        { name: 'update', method: 'PUT', path: '/v1/datasets/{dataset}', require: ['update:datasets.{dataset}'] },
        { name: 'reports', method: 'GET', path: '/v1/reports/{report}', require: ['read:reports'] },
      ],
    },
    rate_limits: [{ rule: 'reports', limit: '30/minute' }],
  };
  const jwt = (iss, sub, claims = {}) => iss.token({ sub, aud: AUD, exp, scope: 'read:datasets update:datasets', ...claims });
  const subs = (iss, prefix, n) => Array.from({ length: n }, (_, i) => ({ sub: `${prefix}-${i + 1}`, token: jwt(iss, `${prefix}-${i + 1}`) }));
  const rsUsers = subs(rs, 'user', 8);
  const esUsers = subs(es, 'svc', 4);
  const pick = (a) => a[Math.floor(Math.random() * a.length)];
  const asJwt = (iss, sub, scopes, rule, dataset) => ({ 'x-auth-sub': sub, 'x-auth-scopes': scopes, 'x-auth-credential': 'jwt', 'x-auth-issuer': iss.issuer, 'x-auth-rule': rule, 'x-auth-dataset': dataset });
  const asKey = (key, scopes, rule, dataset) => ({ 'x-auth-key-id': key.record.id, 'x-auth-scopes': scopes, 'x-auth-credential': 'api_key', 'x-auth-env': key.record.env, 'x-auth-rule': rule, 'x-auth-dataset': dataset });
  // API keys go in Authorization or in x-api-key, at random.
  const keyHeaders = (key) => (Math.random() < 0.5 ? { authorization: `Bearer ${key.key}` } : { 'x-api-key': key.key });
  const bearer = (token) => ({ authorization: `Bearer ${token}` });
  const ok = (name, method, p, make) => ({ name, method, path: p, status: 200, forward: true, make });
  const no = (name, method, p, status, code, headers) => ({ name, method, path: p, status, code, forward: false, make: () => ({ headers: headers() }) });
  const limited = (name, p, limit, make) => ({ ...ok(name, 'GET', p, make), limited: { count: limit, perSec: limit / 60 } });
  const readSales = '/v1/datasets/sales';
  // Minted once: the refusals are not cached by the edges, so each costs a verification there.
  const limitedToken = jwt(rs, 'limited-user', { scope: 'read:reports' });
  const expired = jwt(rs, 'user-1', { iat: now - 7200, exp: now - 3600 });
  const forged = forger.token({ sub: 'user-1', aud: AUD, exp, scope: 'read:datasets' });
  const wrongAud = jwt(es, 'svc-1', { aud: 'https://other.soak.test' });
  const revoked = jwt(rs, 'user-2', { jti: 'soak-revoked' });
  const readOnly = jwt(rs, 'user-3', { scope: 'read:datasets' });
  const cases = [
    ok('jwt-rs256', 'GET', readSales, () => {
      const u = pick(rsUsers);
      return { headers: bearer(u.token), identity: asJwt(rs, u.sub, 'read:datasets update:datasets', 'read', 'sales') };
    }),
    ok('jwt-es256', 'PUT', '/v1/datasets/hr', () => {
      const u = pick(esUsers);
      return { headers: bearer(u.token), identity: asJwt(es, u.sub, 'read:datasets update:datasets', 'update', 'hr') };
    }),
    no('jwt-expired', 'GET', readSales, 401, 'expired_token', () => bearer(expired)),
    no('jwt-forged', 'GET', readSales, 401, 'invalid_signature', () => bearer(forged)),
    no('jwt-wrong-aud', 'GET', readSales, 401, 'invalid_audience', () => bearer(wrongAud)),
    no('jwt-revoked', 'GET', readSales, 401, 'revoked_token', () => bearer(revoked)),
    no('jwt-scope', 'PUT', readSales, 403, 'insufficient_scope', () => bearer(readOnly)),
    no('no-credential', 'GET', readSales, 401, 'missing_credentials', () => ({})),
    ok('key-sk-live', 'PUT', readSales, () => ({ headers: keyHeaders(k.skLive), identity: asKey(k.skLive, '*', 'update', 'sales') })),
    ok('key-sk-test', 'GET', '/v1/datasets/hr', () => ({ headers: keyHeaders(k.skTest), identity: asKey(k.skTest, '*', 'read', 'hr') })),
    ok('key-pk-read', 'GET', readSales, () => ({ headers: keyHeaders(k.pkLive), identity: asKey(k.pkLive, 'read:*', 'read', 'sales') })),
    no('key-pk-write', 'PUT', readSales, 403, 'insufficient_scope', () => keyHeaders(k.pkLive)),
    ok('key-rk', 'PUT', readSales, () => ({ headers: keyHeaders(k.rkLive), identity: asKey(k.rkLive, 'read:datasets.sales update:datasets.sales', 'update', 'sales') })),
    ok('key-dp-prefix', 'GET', '/v1/datasets/hr', () => ({ headers: keyHeaders(k.custom), identity: asKey(k.custom, 'read:datasets', 'read', 'hr') })),
    no('key-revoked', 'GET', readSales, 401, 'revoked_api_key', () => keyHeaders(k.revoked)),
    no('key-revoked-list', 'GET', readSales, 401, 'revoked_api_key', () => keyHeaders(k.listed)),
    no('key-expired', 'GET', readSales, 401, 'expired_api_key', () => keyHeaders(k.expired)),
    no('key-unknown', 'GET', readSales, 401, 'invalid_api_key', () => keyHeaders(apiKey())),
    limited('key-limited', readSales, 50, () => ({ headers: keyHeaders(k.limited), identity: asKey(k.limited, '*', 'read', 'sales') })),
    limited('jwt-limited', '/v1/reports/q3', 30, () => ({ headers: bearer(limitedToken), identity: asJwt(rs, 'limited-user', 'read:reports', 'reports') })),
  ];
  return { config, cases };
}

/** Forged identity headers (half the names upper-case; values no edge sets): the edge must drop or overwrite each. */
const SPOOF = Object.fromEntries(IDENTITY.map((h, i) => [i % 2 ? h.toUpperCase() : h, `spoofed-${h.slice('x-auth-'.length)}`]));

function send(agent, port, method, p, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: p, headers, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.setTimeout(30_000, () => req.destroy(new Error('no answer in 30 s')));
    req.on('error', reject);
    req.end();
  });
}

const codeOf = (body) => {
  try {
    return JSON.parse(body).error?.code;
  } catch {
    return undefined;
  }
};
const pct = (sorted, q) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : 0);
const round = (x, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const proc = (pid) => {
  try {
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return { rssKb, cpuTicks: Number(f[11]) + Number(f[12]) }; // utime + stime, in 1/100 s
  } catch {
    return { rssKb: 0, cpuTicks: 0 };
  }
};

/** Starts one edge in front of the upstream: `{ port, pid, stop(), dir, log (a file) or lines, problem(line) }`. */
async function startEdge(name, config, upstreamPort) {
  if (name === 'envoy') {
    const [listenerPort, adminPort] = [await freePort(), await freePort()];
    const envoy = await startEnvoy({ config: bootstrap({ listenerPort, adminPort, upstreamPort, pluginConfig: config }), listenerPort, adminPort, concurrency: 1 });
    // stop() throws if the filter panicked.
    return { port: listenerPort, pid: envoy.pid, stop: () => envoy.stop(), log: envoy.logPath, dir: envoy.dir, problem: (l) => /\]\[(error|critical)\]|\]\[warning\]\[wasm\]/.test(l) };
  }
  if (name === 'worker') {
    const port = await freePort();
    const w = await startWorkerd({ gatewayConfig: config, origin: `http://127.0.0.1:${upstreamPort}`, port });
    // Audit lines are JSON; anything else the Worker or workerd writes under load is worth reading.
    const lines = [];
    for (const s of [w.child.stdout, w.child.stderr]) {
      let partial = '';
      s.on('data', (chunk) => {
        const parts = (partial + chunk).split('\n');
        partial = parts.pop();
        for (const l of parts) if (l && !l.startsWith('{')) lines.push(l);
      });
    }
    return { port, pid: w.pid, stop: () => w.stop(), lines, dir: w.dir, problem: () => true };
  }
}

async function soakEdge(name, config, cases) {
  const up = fork(fileURLToPath(import.meta.url), ['--upstream'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const [{ port: upstreamPort }] = await once(up, 'message');
  const edge = await startEdge(name, config, upstreamPort);
  running.add(edge);
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  let opened = 0;
  const connect = agent.createConnection.bind(agent);
  agent.createConnection = (...a) => (opened++, connect(...a));
  const r = { edge: name, secs: SECS, connections: CONNECTIONS, requests: 0, wrong: 0, status5xx: 0, transportErrors: 0, examples: [], cases: {}, samples: [] };
  for (const c of cases) r.cases[c.name] = { requests: 0, wrong: 0, ok200: 0, firstSend: Infinity, lastSend: 0, firstRecv: Infinity, lastRecv: 0 };
  const note = (what) => r.examples.filter((e) => e.case === what.case).length < 3 && r.examples.push(what);
  const all = [];
  let window = [];
  const t0 = performance.now();
  const deadline = t0 + SECS * 1000;
  let last = { t: t0, ...proc(edge.pid) };
  r.rssStartKb = last.rssKb;
  const sample = () => {
    const now = { t: performance.now(), ...proc(edge.pid) };
    const sorted = window.sort((a, b) => a - b);
    const s = {
      t: round((now.t - t0) / 1000, 0), reqPerSec: Math.round(sorted.length / ((now.t - last.t) / 1000)),
      p50Ms: round(pct(sorted, 0.5), 2), p99Ms: round(pct(sorted, 0.99), 2), rssMiB: round(now.rssKb / 1024),
      edgeCpuPct: Math.round((now.cpuTicks - last.cpuTicks) / ((now.t - last.t) / 1000)),
      wrong: r.wrong, status5xx: r.status5xx, transportErrors: r.transportErrors,
    };
    r.samples.push(s);
    console.log(`${name.padEnd(6)} t=${String(s.t).padStart(4)}s  ${String(s.reqPerSec).padStart(6)} req/s  p50 ${s.p50Ms} ms  p99 ${s.p99Ms} ms  RSS ${s.rssMiB} MiB  CPU ${s.edgeCpuPct}%  wrong ${s.wrong}  5xx ${s.status5xx}  errors ${s.transportErrors}`);
    window = [];
    last = now;
  };
  const timer = setInterval(sample, SAMPLE_MS);

  const loop = async () => {
    while (performance.now() < deadline) {
      const c = cases[Math.floor(Math.random() * cases.length)];
      const { headers, identity = null } = c.make();
      const cs = r.cases[c.name];
      headers['x-soak-expect'] = JSON.stringify({ c: c.name, forward: c.forward, identity });
      if (Math.random() < 0.5) Object.assign(headers, SPOOF, { 'x-soak-forged': '1' });
      const sent = performance.now();
      cs.firstSend = Math.min(cs.firstSend, sent);
      cs.lastSend = Math.max(cs.lastSend, sent);
      let res;
      try {
        res = await send(agent, edge.port, c.method, c.path, headers);
      } catch (e) {
        r.transportErrors += 1;
        note({ case: c.name, error: e.message });
        await new Promise((done) => setTimeout(done, 10));
        continue;
      }
      const got = performance.now();
      cs.firstRecv = Math.min(cs.firstRecv, got);
      cs.lastRecv = got;
      all.push(got - sent);
      window.push(got - sent);
      r.requests += 1;
      cs.requests += 1;
      const code = codeOf(res.body);
      const reached = res.headers['x-soak-upstream'] === '1';
      let right;
      if (res.status === 200) right = c.status === 200 && reached;
      else right = !reached && (c.limited ? res.status === 429 && code === 'rate_limited' : res.status === c.status && code === c.code);
      // A limited caller's answers carry its limit, allowed or not.
      if (c.limited && res.headers['x-ratelimit-limit'] !== String(c.limited.count)) right = false;
      if (res.status === 200 && reached) cs.ok200 += 1;
      if (res.status >= 500) r.status5xx += 1;
      else if (!right) r.wrong += 1;
      if (!right) {
        cs.wrong += 1;
        note({ case: c.name, method: c.method, path: c.path, expected: c.limited ? '200 or 429 rate_limited' : `${c.status} ${c.code ?? ''}`.trim(), got: { status: res.status, body: res.body.slice(0, 200), reachedUpstream: reached, xRateLimitLimit: res.headers['x-ratelimit-limit'] } });
      }
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, loop));
  clearInterval(timer);
  if (performance.now() - last.t >= 1000) sample(); // the tail of in-flight requests, if long enough to mean something
  const elapsed = (performance.now() - t0) / 1000;
  agent.destroy();

  const end = proc(edge.pid);
  Object.assign(r, { elapsedSecs: round(elapsed), reqPerSec: Math.round(r.requests / elapsed), connectionsOpened: opened, rssEndKb: end.rssKb });
  const sorted = all.sort((a, b) => a - b);
  Object.assign(r, { p50Ms: round(pct(sorted, 0.5), 2), p99Ms: round(pct(sorted, 0.99), 2), maxMs: round(sorted.at(-1) ?? 0, 1) });
  r.rssPeakMiB = round(Math.max(r.rssStartKb, ...r.samples.map((s) => s.rssMiB * 1024)) / 1024);

  // What the upstream saw: forwarded requests are exactly the 200s the client counted, each with
  // the identity the client expected.
  up.send('report');
  const [{ report: u }] = await once(up, 'message');
  up.kill();
  const ok200 = Object.values(r.cases).reduce((n, c) => n + c.ok200, 0);
  r.upstream = { ...u, clientCounted200: ok200 };

  // Rate limits (GCRA: `count` at once, then `count` per minute, evenly). Over the edge's time
  // between its first and last decision for the caller, [a, b], it admits at most
  // count + floor((b - a) * rate) + 1 and, under continuous demand (here hundreds of requests a
  // second), at least count + floor((b - a) * rate) - 1. The client bounds [a, b] from both sides:
  // [firstRecv, lastSend] ⊆ [a, b] ⊆ [firstSend, lastRecv]. Envoy keeps buckets in shared data (one
  // per Envoy, every worker); the Worker keeps them per isolate, and a local workerd serves this
  // Worker from one isolate, so the same bound holds for both (on Cloudflare each isolate would
  // admit its own share: the RATE_LIMITER Durable Object is what makes it global there).
  r.limits = {};
  for (const c of cases.filter((x) => x.limited)) {
    const cs = r.cases[c.name];
    const { count, perSec } = c.limited;
    const lo = count + Math.floor(((cs.lastSend - cs.firstRecv) / 1000) * perSec) - 1;
    const hi = count + Math.floor(((cs.lastRecv - cs.firstSend) / 1000) * perSec) + 1;
    r.limits[c.name] = { allowed: cs.ok200, min: lo, max: hi, ok: cs.ok200 >= lo && cs.ok200 <= hi };
  }
  for (const cs of Object.values(r.cases)) for (const k of ['firstSend', 'lastSend', 'firstRecv', 'lastRecv']) delete cs[k];

  let panic = null;
  running.delete(edge);
  try {
    await edge.stop();
  } catch (e) {
    panic = e.message;
  }
  // Warnings and errors in the edge's log (Envoy's file; the Worker's console lines that are not audit JSON).
  const problems = [];
  const lines = edge.log ? createInterface({ input: createReadStream(edge.log) }) : edge.lines;
  for await (const l of lines) if (edge.problem(l)) problems.push(l.slice(0, 300));
  await cleanup(edge.dir);
  r.log = { problemLines: problems.length, first: problems.slice(0, 5), panic };
  r.failures = [
    r.wrong && `${r.wrong} wrong decisions`,
    r.status5xx && `${r.status5xx} answers 5xx`,
    r.transportErrors && `${r.transportErrors} transport errors`,
    u.mismatches && `${u.mismatches} forwarded requests with the wrong identity headers`,
    u.shouldHaveBeenRefused && `${u.shouldHaveBeenRefused} forwarded requests that should have been refused`,
    u.forwarded !== ok200 && `upstream saw ${u.forwarded} requests, the client ${ok200} answers from it`,
    ...Object.entries(r.limits).filter(([, l]) => !l.ok).map(([n, l]) => `${n}: ${l.allowed} allowed, outside [${l.min}, ${l.max}]`),
    panic,
  ].filter(Boolean);
  return r;
}

async function main() {
  const dir = await tempDir('soak-');
  const { config, cases } = fixtures(dir);
  console.log(`soak: ${EDGES.join(' then ')}, ${SECS} s each, ${CONNECTIONS} connections, ${cases.length} cases: ${cases.map((c) => c.name).join(' ')}`);
  const reports = [];
  for (const name of EDGES) reports.push(await soakEdge(name, config, cases));
  await cleanup(dir);

  console.log('\nedge    requests   req/s   p50 ms   p99 ms   max ms  RSS start/peak/end MiB  wrong  5xx  errors  identity mismatches  limits');
  for (const r of reports) {
    const limits = Object.entries(r.limits).map(([n, l]) => `${n} ${l.allowed} in [${l.min}, ${l.max}]`).join(', ');
    const rss = [r.rssStartKb / 1024, r.rssPeakMiB, r.rssEndKb / 1024].map((x) => Math.round(x)).join('/');
    console.log(`${r.edge.padEnd(7)} ${String(r.requests).padStart(8)} ${String(r.reqPerSec).padStart(7)} ${String(r.p50Ms).padStart(8)} ${String(r.p99Ms).padStart(8)} ${String(r.maxMs).padStart(8)}  ${rss.padStart(22)}  ${String(r.wrong).padStart(5)} ${String(r.status5xx).padStart(4)} ${String(r.transportErrors).padStart(7)} ${String(r.upstream.mismatches + r.upstream.shouldHaveBeenRefused).padStart(20)}  ${limits}`);
    console.log(`        ${r.upstream.forwarded} forwarded and checked upstream (${r.upstream.forgedHeadersStripped} of them sent with forged x-auth-* headers), ${r.connectionsOpened} connections opened, ${r.log.problemLines} warning/error log lines`);
    for (const line of r.log.first) console.log(`        log: ${line}`);
    for (const f of r.failures) console.log(`        FAIL ${f}`);
    const first = (list) => list.filter((e, i) => list.findIndex((x) => x.case === e.case) === i); // one per case
    for (const e of [...first(r.examples), ...first(r.upstream.examples)]) console.log(`        e.g. ${JSON.stringify(e)}`);
  }
  mkdirSync(OUT, { recursive: true });
  writeFileSync(path.join(OUT, 'report.json'), `${JSON.stringify({ date: new Date().toISOString(), edges: reports }, null, 2)}\n`);
  const failed = reports.some((r) => r.failures.length > 0);
  console.log(`\nsoak: ${failed ? 'FAILED' : 'passed'}; report in ${path.relative(REPO, OUT)}/report.json`);
  process.exit(failed ? 1 : 0);
}
