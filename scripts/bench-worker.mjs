// The Worker's cache-miss decision beside a jose-based Worker, in one workerd (make bench; needs
// make worker). Every request carries a token never seen before, so the gateway verifies it
// (WebCrypto for RSA and ECDSA signatures since the core hands them over) and refuses it at the
// route (a scope it lacks: 403, no origin involved); the jose Worker verifies the same kind of
// token with `jwtVerify` and answers 200. An empty Worker gives the HTTP floor. Sequential
// requests on one keep-alive connection, interleaved rounds, median latency. Writes its section
// of docs/benchmarks.md between markers.
import http from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import * as jose from 'jose';

import { cleanup, tempDir } from '../tests/e2e/lib/envoy.mjs';
import { serveWorkerd, workerModules } from '../tests/e2e/lib/workerd.mjs';
import { bundleForWorkerd } from '../tests/workerd/bundle.mjs';

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
      return new Response('ok');
    } catch {
      return new Response('refused', { status: 401 });
    }
  },
};
`;

const EMPTY_WORKER = `export default { fetch: () => new Response('ok') };\n`;

function capnp(dir, ports, jwks, gatewayFile) {
  const rel = (p) => JSON.stringify(path.relative(dir, p));
  const worker = (name, modules, bindings) => `(name = "${name}", worker = (
      modules = [${modules.join(', ')}],
      compatibilityDate = "2025-11-01",
      bindings = [${bindings.join(', ')}],
    ))`;
  const socket = (name, port) => `(name = "${name}", address = "127.0.0.1:${port}", http = (), service = "${name}")`;
  return `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    ${worker('tokenwarden', workerModules(dir), [`(name = "TOKENWARDEN_CONFIG", text = embed ${rel(gatewayFile)})`, '(name = "ORIGIN", text = "http://127.0.0.1:9")'])},
    ${worker('jose', [`(name = "jose.js", esModule = embed ${rel(path.join(dir, 'jose/jose-worker.js'))})`], [`(name = "JWKS", text = ${JSON.stringify(JSON.stringify(jwks))})`, `(name = "ISS", text = "${ISS}")`, `(name = "AUD", text = "${AUD}")`])},
    ${worker('empty', [`(name = "empty.js", esModule = embed ${rel(path.join(dir, 'empty.js'))})`], [])},
  ],
  sockets = [${socket('tokenwarden', ports.tokenwarden)}, ${socket('jose', ports.jose)}, ${socket('empty', ports.empty)}],
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
      new jose.SignJWT({ scope: 'read', n: i })
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

async function main() {
  const dir = await tempDir('bench-worker-');
  const rs = await keyFor('RS256', 'rs');
  const es = await keyFor('ES256', 'es');
  const jwks = { keys: [rs.jwk, es.jwk] };
  const gatewayFile = path.join(dir, 'gateway.json');
  await writeFile(gatewayFile, JSON.stringify({
    providers: [{ name: 'idp', issuer: ISS, audiences: [AUD], jwks: { inline: jwks } }],
    policy: { rules: [{ name: 'data', method: 'GET', path: '/v1/data', require: ['write:data'] }] },
  }));
  const joseSrc = path.join(dir, 'jose-src.mjs');
  await writeFile(joseSrc, JOSE_WORKER);
  await bundleForWorkerd([joseSrc], path.join(dir, 'jose'));
  const { renameSync } = await import('node:fs');
  renameSync(path.join(dir, 'jose/jose-src.js'), path.join(dir, 'jose/jose-worker.js'));
  await writeFile(path.join(dir, 'empty.js'), EMPTY_WORKER);
  const ports = { tokenwarden: 18891, jose: 18892, empty: 18893 };
  const file = path.join(dir, 'config.capnp');
  await writeFile(file, capnp(dir, ports, jwks, gatewayFile));
  const w = await serveWorkerd({ dir, capnp: file, port: ports.empty });
  try {
    const rows = [];
    for (const [alg, key] of [['ES256', es], ['RS256', rs]]) {
      const need = ROUNDS * PER_ROUND + 50;
      const minted = { tokenwarden: await tokens(alg, key.jwk.kid, key.privateKey, need), jose: await tokens(alg, key.jwk.kid, key.privateKey, need) };
      const expect = { tokenwarden: 403, hit: 403, jose: 200, empty: 200 };
      const times = { tokenwarden: [], hit: [], jose: [], empty: [] };
      const next = { tokenwarden: 0, jose: 0 };
      const port = { ...ports, hit: ports.tokenwarden };
      for (let round = -1; round < ROUNDS; round++) {
        for (const name of ['tokenwarden', 'hit', 'jose', 'empty']) {
          const lat = [];
          for (let i = 0; i < (round < 0 ? 25 : PER_ROUND); i++) {
            // `hit`: the same token again, from the verified-token cache.
            const token = name === 'empty' ? undefined : name === 'hit' ? minted.tokenwarden[0] : minted[name][next[name]++];
            const { status, us } = await get(port[name], token);
            if (status !== expect[name]) throw new Error(`${name} ${alg}: HTTP ${status}, expected ${expect[name]}`);
            lat.push(us);
          }
          if (round >= 0) times[name].push(median(lat));
        }
      }
      rows.push({ alg, tokenwarden: median(times.tokenwarden), hit: median(times.hit), jose: median(times.jose), empty: median(times.empty) });
    }
    return rows;
  } finally {
    agent.destroy();
    await w.stop();
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
  'key and checks the claims; WebCrypto verifies RSA and ECDSA signatures) and refuses it at the route',
  `(403, no origin involved); a Worker running jose ${version}'s \`jwtVerify\` with a local JWK set answers 200;`,
  'an empty Worker gives the HTTP floor. Sequential requests on one keep-alive connection from Node,',
  `${ROUNDS} interleaved rounds of ${PER_ROUND}, median of the round medians, µs. "Decision" is the latency`,
  'above the floor. "Cached" is the same token again (a verified-token cache hit): the Worker\'s cost with no',
  'verification at all. Target: the cache-miss decision within 1.5× of jose.',
  '',
  '| alg | tokenwarden miss µs | tokenwarden cached µs | jose µs | empty Worker µs | miss decision µs | cached decision µs | jose decision µs | miss / jose |',
  '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...rows.map((r) => {
    const tw = r.tokenwarden - r.empty;
    const hit = r.hit - r.empty;
    const jo = r.jose - r.empty;
    const ratio = tw / jo;
    return `| ${r.alg} | ${r.tokenwarden.toFixed(0)} | ${r.hit.toFixed(0)} | ${r.jose.toFixed(0)} | ${r.empty.toFixed(0)} | ${tw.toFixed(0)} | ${hit.toFixed(0)} | ${jo.toFixed(0)} | ${ratio.toFixed(2)} (${ratio <= 1.5 ? 'met' : 'not met'}) |`;
  }),
  '<!-- bench-worker:end -->',
];
const section = lines.join('\n');
console.log(section);
const docPath = `${root}docs/benchmarks.md`;
const doc = readFileSync(docPath, 'utf8');
const begin = doc.indexOf('<!-- bench-worker:begin');
const end = doc.indexOf('<!-- bench-worker:end -->');
const updated = begin >= 0 && end > begin
  ? doc.slice(0, begin) + section + doc.slice(end + '<!-- bench-worker:end -->'.length)
  : (() => {
      const anchor = doc.indexOf('<!-- bench-js:begin');
      return anchor >= 0 ? `${doc.slice(0, anchor)}${section}\n\n${doc.slice(anchor)}` : `${doc.trimEnd()}\n\n${section}\n`;
    })();
writeFileSync(docPath, updated);
