// Envoy benchmark: wrk against Envoy (--concurrency 1) on loopback, Envoy pinned to core 0 and wrk
// to core 1, the same RS256 token for every JWT configuration, configurations interleaved round by
// round so the machine's noise falls on all of them alike. Writes target/bench-run/envoy.json.
//
//   (a) no auth            (b) jwt_authn + jwt_cache_config   (c) jwt_authn, no cache
//   (d) tokenwarden, cache (e) tokenwarden, cache disabled    (f) tokenwarden, API key
//   (g) a trivial wasm filter (two header reads, two adds): the V8 floor
//   (h) (d) with 1 % of allowed requests audited instead of all (the audit line's share of (d))
//
// Requests end at a direct_response route, so no upstream sits in the measurement.

import { execFileSync, spawnSync } from 'node:child_process';
import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { REPO, bootstrap, cleanup, freePort, startEnvoy } from '../tests/e2e/lib/envoy.mjs';

const TARGET = path.resolve(REPO, process.env.CARGO_TARGET_DIR ?? 'target');
const FILTER = path.join(TARGET, 'wasm32-wasip1/filter/tokenwarden_envoy.wasm');
const FLOOR = path.join(TARGET, 'wasm32-wasip1/filter/examples/floor.wasm');
const CLI = path.join(TARGET, 'debug/tokenwarden');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = 16;
const ISSUER = 'https://auth.bench.test';

const b64url = (b) => Buffer.from(b).toString('base64url');

function rs256() {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'bench-1', alg: 'RS256', use: 'sig' };
  const now = Math.floor(Date.now() / 1000);
  const h = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: 'bench-1' }));
  const p = b64url(JSON.stringify({ iss: ISSUER, aud: 'api', sub: 'user_8f3k29d', iat: now, exp: now + 7200, scope: 'read:datasets' }));
  const s = sign('sha256', Buffer.from(`${h}.${p}`), privateKey);
  return { jwks: { keys: [jwk] }, token: `${h}.${p}.${b64url(s)}` };
}

function apiKey(dir) {
  const store = path.join(dir, 'keys.json');
  const out = execFileSync(CLI, ['keys', 'create', '--type', 'sk', '--env', 'live', '--name', 'bench', '--store', store], { stdio: ['ignore', 'pipe', 'ignore'] });
  return { key: JSON.parse(out).key, store: JSON.parse(readFileSync(store, 'utf8')) };
}

/** A bootstrap whose listener runs `filters` then a direct 200. */
function config(ports, filters) {
  const b = bootstrap({ ...ports, upstreamPort: ports.adminPort, pluginConfig: '{}', wasm: FILTER });
  const hcm = b.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  hcm.route_config.virtual_hosts[0].routes = [{ match: { prefix: '/' }, direct_response: { status: 200, body: { inline_string: 'ok' } } }];
  hcm.http_filters = [...filters, hcm.http_filters.at(-1)];
  return b;
}

function wasmFilter(file, configuration) {
  return {
    name: 'wasm',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm',
      config: {
        name: 'bench',
        root_id: file === FLOOR ? '' : 'tokenwarden',
        failure_policy: 'FAIL_CLOSED',
        vm_config: { vm_id: 'bench', runtime: 'envoy.wasm.runtime.v8', code: { local: { filename: file } } },
        configuration: { '@type': 'type.googleapis.com/google.protobuf.StringValue', value: JSON.stringify(configuration ?? {}) },
      },
    },
  };
}

function jwtAuthn(jwks, cache) {
  const provider = { issuer: ISSUER, audiences: ['api'], local_jwks: { inline_string: JSON.stringify(jwks) }, forward: true };
  if (cache) provider.jwt_cache_config = { jwt_cache_size: 100 };
  return {
    name: 'envoy.filters.http.jwt_authn',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication',
      providers: { bench: provider },
      rules: [{ match: { prefix: '/' }, requires: { provider_name: 'bench' } }],
    },
  };
}

const cpuTicks = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]);
};
const rssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
const TICK_US = 1e6 / Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());

function parseDuration(s) {
  const m = /([\d.]+)(us|ms|s)/.exec(s);
  return m ? Number(m[1]) * { us: 1, ms: 1000, s: 1e6 }[m[2]] : NaN;
}

function wrk(port, headers) {
  const args = ['-c', '1', 'wrk', '-t1', `-c${CONNECTIONS}`, `-d${SECONDS}s`, '--latency'];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
  args.push(`http://127.0.0.1:${port}/v1/acme/datasets/sales`);
  const r = spawnSync('taskset', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`wrk failed: ${r.stderr}`);
  const out = r.stdout;
  const requests = Number(/(\d+) requests in/.exec(out)[1]);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)[1]),
    p50: parseDuration(/\s50%\s+(\S+)/.exec(out)[1]),
    p99: parseDuration(/\s99%\s+(\S+)/.exec(out)[1]),
    requests,
    non2xx,
  };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const { jwks, token } = rs256();
  const dir = path.join(REPO, '.tmp');
  mkdirSync(dir, { recursive: true });
  const { key, store } = apiKey(dir);
  const provider = { name: 'bench', issuer: ISSUER, audiences: ['api'], algorithms: ['RS256'], jwks: { inline: jwks } };
  const bearer = { authorization: `Bearer ${token}` };
  const configs = [
    ['a', 'no auth', [], {}],
    ['b', 'jwt_authn with jwt_cache_config', [jwtAuthn(jwks, true)], bearer],
    ['c', 'jwt_authn without cache', [jwtAuthn(jwks, false)], bearer],
    ['d', 'tokenwarden (cache)', [wasmFilter(FILTER, { providers: [provider] })], bearer],
    ['e', 'tokenwarden (cache disabled)', [wasmFilter(FILTER, { providers: [provider], cache: { max_entries: 0 } })], bearer],
    ['f', 'tokenwarden, API key', [wasmFilter(FILTER, { api_keys: { store: { inline: store } }, sources: [{ type: 'header', name: 'x-api-key' }] })], { 'x-api-key': key }],
    ['h', 'tokenwarden (cache), 1 % of allowed requests audited', [wasmFilter(FILTER, { providers: [provider], audit_sample_rate: 0.01 })], bearer],
    ['g', 'trivial wasm filter (V8 floor)', [wasmFilter(FLOOR)], bearer],
  ];
  // BENCH_ONLY=d,g measures a subset (quick iterations); docs/benchmarks.md wants all seven.
  const only = process.env.BENCH_ONLY?.split(',');
  const running = [];
  try {
    for (const [id, name, filters, headers] of configs.filter(([id]) => !only || only.includes(id))) {
      const ports = { listenerPort: await freePort(), adminPort: await freePort() };
      const envoy = await startEnvoy({ config: config(ports, filters), ...ports });
      execFileSync('taskset', ['-a', '-cp', '0', String(envoy.pid)], { stdio: 'ignore' });
      running.push({ id, name, headers, envoy, port: ports.listenerPort, runs: [] });
    }
    for (const r of running) {
      const probe = await fetch(`http://127.0.0.1:${r.port}/v1/acme/datasets/sales`, { headers: r.headers });
      if (probe.status !== 200) throw new Error(`(${r.id}) ${r.name} answered ${probe.status}: ${await probe.text()}`);
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (const r of running) {
        const before = cpuTicks(r.envoy.pid);
        const w = wrk(r.port, r.headers);
        const after = cpuTicks(r.envoy.pid);
        if (w.non2xx) throw new Error(`(${r.id}) ${w.non2xx} non-2xx answers`);
        r.runs.push({ ...w, cpu_us: ((after - before) * TICK_US) / w.requests });
        process.stderr.write(`round ${round + 1} (${r.id}) ${r.name}: ${w.rps.toFixed(0)} req/s\n`);
      }
    }
    const results = running.map((r) => ({
      id: r.id,
      name: r.name,
      rps: median(r.runs.map((x) => x.rps)),
      p50_us: median(r.runs.map((x) => x.p50)),
      p99_us: median(r.runs.map((x) => x.p99)),
      cpu_us: median(r.runs.map((x) => x.cpu_us)),
      rss_kb: rssKb(r.envoy.pid),
      rounds: r.runs.length,
    }));
    const out = {
      seconds: SECONDS,
      rounds: ROUNDS,
      connections: CONNECTIONS,
      filter_bytes: statSync(FILTER).size,
      floor_bytes: statSync(FLOOR).size,
      results,
    };
    const optimized = path.join(dir, 'tokenwarden_envoy.opt.wasm');
    const opt = spawnSync(path.join(REPO, 'node_modules/.bin/wasm-opt'), ['-Oz', '--enable-bulk-memory', '--enable-sign-ext', '--enable-nontrapping-float-to-int', '--enable-mutable-globals', FILTER, '-o', optimized], { encoding: 'utf8' });
    if (opt.status === 0) out.filter_opt_bytes = statSync(optimized).size;
    else process.stderr.write(`wasm-opt failed (size after wasm-opt not reported): ${opt.stderr.slice(-400)}\n`);
    const outDir = process.env.BENCH_OUT ?? path.join(REPO, 'target/bench-run');
    mkdirSync(outDir, { recursive: true });
    writeFileSync(path.join(outDir, 'envoy.json'), JSON.stringify(out, null, 2));
    console.log(JSON.stringify(out, null, 2));
  } finally {
    for (const r of running) {
      await r.envoy.stop();
      await cleanup(r.envoy.dir);
    }
  }
}

await main();
