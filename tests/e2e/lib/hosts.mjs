// The three hosts of the shared decision, asked one request at a time: Envoy + the filter and
// workerd + the Worker (ports in front of an origin), and `tokenwarden decide` (the CLI host,
// its decision turned into the answer an edge would give). Used by the conformance table and
// the platform profiles, so both send requests and read answers the same way.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';

import { bootstrap, cleanup, freePort, REPO, startEnvoy, tempDir } from './envoy.mjs';
import { startWorkerd } from './workerd.mjs';

/** One request to an edge; array header values are sent as repeated headers. */
export function send(port, { method = 'GET', path: p = '/', headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method, path: p, headers: { 'cf-connecting-ip': '127.0.0.1', ...headers }, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
      },
    );
    req.setTimeout(10000, () => req.destroy(new Error(`request to :${port}${p} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

export const CLI = path.join(process.env.CARGO_TARGET_DIR ?? path.join(REPO, 'target'), 'debug/tokenwarden');

/**
 * One request through `tokenwarden decide` (rate-limit buckets kept in `state` between calls),
 * as the answer an edge in front of an echo origin would give. Asynchronous: the documents and
 * introspection servers it calls may run in this process. A header sent twice is joined with
 * ", ", as the HTTP runtimes hand a repeated header to the edges.
 */
export async function decideCli(configFile, state, { method = 'GET', path: p = '/', headers = {} } = {}) {
  const all = Object.fromEntries(Object.entries({ 'cf-connecting-ip': '127.0.0.1', ...headers }).map(([n, v]) => [n.toLowerCase(), [v].flat().join(', ')]));
  const args = ['decide', '--config', configFile, '--state', state, '--method', method, '--path', p, '--ip', '127.0.0.1'];
  for (const [name, value] of Object.entries(all)) args.push('-H', `${name}: ${value}`);
  const run = await new Promise((resolve) => {
    execFile(CLI, args, { encoding: 'utf8', timeout: 20000 }, (error, stdout, stderr) => resolve({ status: error ? error.code : 0, stdout, stderr }));
  });
  assert.ok(run.status === 0 || run.status === 1, `tokenwarden decide exited ${run.status}: ${run.stderr}`);
  const d = JSON.parse(run.stdout);
  const lower = (pairs) => Object.fromEntries(pairs.map(([n, v]) => [n.toLowerCase(), v]));
  if (d.action === 'respond') return { status: d.status, headers: lower(d.headers), body: d.body };
  assert.equal(d.action, 'forward', run.stdout);
  const upstream = { ...all };
  for (const name of d.upstream_remove) delete upstream[name];
  for (const [name, value] of d.upstream_set) upstream[name] = value;
  const responseHeaders = { 'content-type': 'application/json', 'x-echo': '1', ...lower(d.response_headers) };
  return { status: 200, headers: responseHeaders, body: JSON.stringify({ url: d.upstream_path ?? p, headers: upstream }) };
}

/**
 * Starts every host with one gateway configuration in front of the origin on `originPort`:
 * Envoy (`envoy`), workerd with per-isolate limits (`worker`), optionally workerd with the
 * RateLimiter Durable Object (`worker+do`), and the CLI (`cli`); `metrics` binds the Worker's
 * Analytics Engine dataset (data points on its console). `clusters` maps Envoy cluster
 * names to local ports. Resolves to `{ hosts, envoy, worker, stop }` (`envoy` and `worker` the
 * processes, for their logs); `ask(hosts[name], request)` sends one.
 */
export async function startHosts({ gatewayConfig, originPort, clusters = {}, durable = false, metrics = false }) {
  const [listenerPort, adminPort, workerPort] = [await freePort(), await freePort(), await freePort()];
  const config = bootstrap({ listenerPort, adminPort, upstreamPort: originPort, pluginConfig: gatewayConfig, clusters });
  const origin = `http://127.0.0.1:${originPort}`;
  const starting = [startEnvoy({ config, listenerPort, adminPort }), startWorkerd({ port: workerPort, origin, gatewayConfig, metrics })];
  const durablePort = durable ? await freePort() : undefined;
  if (durable) starting.push(startWorkerd({ port: durablePort, origin, gatewayConfig, durable: true }));
  const running = await Promise.all(starting);
  const dir = await tempDir('cli-');
  const configFile = path.join(dir, 'gateway.json');
  writeFileSync(configFile, JSON.stringify(gatewayConfig));
  const hosts = { envoy: listenerPort, worker: workerPort };
  if (durable) hosts['worker+do'] = durablePort;
  hosts.cli = { configFile, state: path.join(dir, 'buckets.json') };
  const stop = async () => {
    await Promise.all(running.map((host) => host.stop()));
    await Promise.all([...running.map((host) => cleanup(host.dir)), cleanup(dir)]);
  };
  const [envoy, worker] = running;
  return { hosts, adminPort, envoy, worker, stop };
}

/** One request to an edge (a port) or to the CLI host. */
export const ask = (target, request) => (typeof target === 'number' ? send(target, request) : decideCli(target.configFile, target.state, request));

/**
 * A deployed gateway configuration with every remote source (each object with a `cluster` and
 * a `url`) pointed at the local document server on `port`: Envoy's cluster `docs`, the Worker's
 * URL. Nothing else of the configuration changes.
 */
export function withLocalSources(config, port) {
  const walk = (v) => {
    if (Array.isArray(v)) return v.map(walk);
    if (v === null || typeof v !== 'object') return v;
    const out = Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    if ('cluster' in out && 'url' in out) Object.assign(out, { cluster: 'docs', url: `http://127.0.0.1:${port}`, authority: undefined });
    return out;
  };
  return JSON.parse(JSON.stringify(walk(config)));
}
