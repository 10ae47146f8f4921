// The Worker's cache-miss decision beside a jose-based Worker, in one workerd (make bench; needs
// make worker). Every request carries a token never seen before, so the gateway verifies it
// (WebCrypto for RSA and ECDSA signatures since the core hands them over) and forwards it to a
// local origin; the jose Worker verifies the same kind of token with `jwtVerify` and forwards it
// too; an empty Worker only forwards (the floor). The gateway's audit line is sampled out (jose
// writes none), and measured apart. Sequential requests on one keep-alive connection,
// interleaved rounds, median latency. Writes its section of docs/benchmarks.md between markers.
import { spawn } from 'node:child_process';
import http from 'node:http';
import { readFileSync, renameSync } from 'node:fs';
import net from 'node:net';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import * as jose from 'jose';

import { cleanup, tempDir } from '../tests/e2e/lib/envoy.mjs';
import { WORKERD_BIN, workerModules } from '../tests/e2e/lib/workerd.mjs';
import { bundleForWorkerd } from '../tests/workerd/bundle.mjs';
import { writeSection } from './bench-doc.mjs';

const root = fileURLToPath(new URL('../', import.meta.url));
const ISS = 'https://issuer.bench';
const AUD = 'https://api.bench';
const ROUNDS = 7;
const PER_ROUND = 150;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const JOSE_WORKER = `import * as jose from 'jose';
let keys;
export default {
  async fetch(request, env) {
    keys ??= jose.createLocalJWKSet(JSON.parse(env.JWKS));
    const token = (request.headers.get('authorization') ?? '').slice(7);
    try {
      await jose.jwtVerify(token, keys, { issuer: env.ISS, audience: env.AUD, algorithms: ['RS256', 'ES256'] });
      return fetch(env.ORIGIN + new URL(request.url).pathname, { headers: request.headers });
    } catch {
      return new Response('refused', { status: 401 });
    }
  },
};
`;

const EMPTY_WORKER = `export default { fetch: (request, env) => fetch(env.ORIGIN + new URL(request.url).pathname, { headers: request.headers }) };\n`;

function capnp(dir, ports, jwks, gatewayFiles, origin) {
  const rel = (p) => JSON.stringify(path.relative(dir, p));
  const worker = (name, modules, bindings) => `(name = "${name}", worker = (
      modules = [${modules.join(', ')}],
      compatibilityDate = "2025-11-01",
      bindings = [${bindings.join(', ')}],
      globalOutbound = "internet",
    ))`;
  const socket = (name, port) => `(name = "${name}", address = "127.0.0.1:${port}", http = (), service = "${name}")`;
  const ORIGIN = `(name = "ORIGIN", text = "${origin}")`;
  const gateway = (name) => worker(name, workerModules(dir), [`(name = "TOKENWARDEN_CONFIG", text = embed ${rel(gatewayFiles[name])})`, ORIGIN]);
  return `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    ${gateway('tokenwarden')},
    ${gateway('audited')},
    ${worker('jose', [`(name = "jose.js", esModule = embed ${rel(path.join(dir, 'jose/jose-worker.js'))})`], [`(name = "JWKS", text = ${JSON.stringify(JSON.stringify(jwks))})`, `(name = "ISS", text = "${ISS}")`, `(name = "AUD", text = "${AUD}")`, ORIGIN])},
    ${worker('empty', [`(name = "empty.js", esModule = embed ${rel(path.join(dir, 'empty.js'))})`], [ORIGIN])},
    (name = "internet", network = (allow = ["local"])),
  ],
  sockets = [${Object.entries(ports).map(([name, port]) => socket(name, port)).join(', ')}],
);
`;
}

async function keyFor(alg, kid) {
  const { privateKey, publicKey } = await jose.generateKeyPair(alg, { extractable: true });
  return { privateKey, jwk: { ...(await jose.exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

function tokens(alg, kid, privateKey, n) {
  return Promise.all(
    Array.from({ length: n }, (_, i) =>
      new jose.SignJWT({ scope: 'read:data', n: i })
        .setProtectedHeader({ alg, kid })
        .setIssuer(ISS)
        .setAudience(AUD)
        .setSubject(`user_${i}`)
        .setJti(`${alg}-${i}-${Math.random()}`)
        .setIssuedAt()
        .setExpirationTime('1h')
        .sign(privateKey),
    ),
  );
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function get(port, token) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const req = http.get({ host: '127.0.0.1', port, path: '/v1/data', agent, headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, us: Number(process.hrtime.bigint() - started) / 1000 }));
    });
    req.on('error', reject);
  });
}

/** workerd serving `capnp`, its output discarded (a reader of it would slow this process). */
async function serve(dir, file, port) {
  const child = spawn(WORKERD_BIN, ['serve', file], { cwd: dir, stdio: 'ignore' });
  for (let i = 0; i < 200; i++) {
    const up = await new Promise((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => resolve(s.destroy() ?? true));
      s.on('error', () => resolve(false));
    });
    if (up) return child;
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error('workerd did not listen');
}

async function main() {
  const dir = await tempDir('bench-worker-');
  const rs = await keyFor('RS256', 'rs');
  const es = await keyFor('ES256', 'es');
  const jwks = { keys: [rs.jwk, es.jwk] };
  const gatewayFiles = {};
  for (const [name, rate] of [['tokenwarden', 0], ['audited', 1]]) {
    gatewayFiles[name] = path.join(dir, `${name}.json`);
    await writeFile(gatewayFiles[name], JSON.stringify({
      providers: [{ name: 'idp', issuer: ISS, audiences: [AUD], jwks: { inline: jwks } }],
      policy: { rules: [{ name: 'data', method: 'GET', path: '/v1/data', require: ['read:data'] }] },
      audit_sample_rate: rate,
    }));
  }
  const origin = http.createServer((req, res) => res.end('ok'));
  await new Promise((r) => origin.listen(0, '127.0.0.1', r));
  const joseSrc = path.join(dir, 'jose-src.mjs');
  await writeFile(joseSrc, JOSE_WORKER);
  await bundleForWorkerd([joseSrc], path.join(dir, 'jose'));
  renameSync(path.join(dir, 'jose/jose-src.js'), path.join(dir, 'jose/jose-worker.js'));
  await writeFile(path.join(dir, 'empty.js'), EMPTY_WORKER);
  const ports = { tokenwarden: 18891, audited: 18892, jose: 18893, empty: 18894 };
  const file = path.join(dir, 'config.capnp');
  await writeFile(file, capnp(dir, ports, jwks, gatewayFiles, `http://127.0.0.1:${origin.address().port}`));
  const child = await serve(dir, file, ports.empty);
  try {
    const rows = [];
    for (const [alg, key] of [['ES256', es], ['RS256', rs]]) {
      const need = ROUNDS * PER_ROUND + 50;
      const minted = { tokenwarden: await tokens(alg, key.jwk.kid, key.privateKey, need), jose: await tokens(alg, key.jwk.kid, key.privateKey, need) };
      minted.audited = await tokens(alg, key.jwk.kid, key.privateKey, need);
      const times = { tokenwarden: [], hit: [], audited: [], jose: [], empty: [] };
      const next = { tokenwarden: 0, audited: 0, jose: 0 };
      const port = { ...ports, hit: ports.tokenwarden };
      for (let round = -1; round < ROUNDS; round++) {
        for (const name of Object.keys(times)) {
          const lat = [];
          for (let i = 0; i < (round < 0 ? 25 : PER_ROUND); i++) {
            // `hit`: the same token again, from the verified-token cache.
            const token = name === 'empty' ? undefined : name === 'hit' ? minted.tokenwarden[0] : minted[name][next[name]++];
            const { status, us } = await get(port[name], token);
            if (status !== 200) throw new Error(`${name} ${alg}: HTTP ${status}`);
            lat.push(us);
          }
          if (round >= 0) times[name].push(median(lat));
        }
      }
      rows.push({ alg, ...Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)])) });
    }
    return rows;
  } finally {
    agent.destroy();
    child.kill('SIGKILL');
    origin.close();
    await cleanup(dir);
  }
}

const rows = await main();
const version = JSON.parse(readFileSync(`${root}node_modules/jose/package.json`)).version;
const lines = [
  '<!-- bench-worker:begin (written by scripts/bench-worker.mjs) -->',
  '## The Worker: a cache-miss decision beside a jose Worker (one workerd)',
  '',
  'Every request carries a token never seen before. The Worker verifies it (the core parses it, chooses the',
  'key and checks the claims; WebCrypto verifies RSA and ECDSA signatures) and forwards it to a local',
  `origin; a Worker running jose ${version}'s \`jwtVerify\` with a local JWK set does the same; an empty Worker`,
  'only forwards (the floor). "Cached": the same token again, a verified-token cache hit. The audit line',
  'is sampled out (`audit_sample_rate: 0`; jose writes none), and "audited" is the miss with one line per',
  'request (workerd\'s console, output discarded). Sequential requests on one keep-alive connection from',
  `Node, ${ROUNDS} interleaved rounds of ${PER_ROUND}, median of the round medians, µs; "decision" = latency`,
  'above the floor. Target: the cache-miss decision within 1.5× of jose.',
  '',
  '| alg | empty Worker µs | miss decision µs | cached decision µs | audited miss decision µs | jose decision µs | miss / jose |',
  '|---|---:|---:|---:|---:|---:|---:|',
  ...rows.map((r) => {
    const over = (x) => (x - r.empty).toFixed(0);
    const ratio = (r.tokenwarden - r.empty) / (r.jose - r.empty);
    return `| ${r.alg} | ${r.empty.toFixed(0)} | ${over(r.tokenwarden)} | ${over(r.hit)} | ${over(r.audited)} | ${over(r.jose)} | ${ratio.toFixed(2)} (${ratio <= 1.5 ? 'met' : 'not met'}) |`;
  }),
  '<!-- bench-worker:end -->',
];
const section = lines.join('\n');
console.log(section);
writeSection('bench-worker', section, '<!-- bench-js:begin');
