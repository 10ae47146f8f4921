// Runs the real workerd (npm `workerd`) around the Worker (filters/worker) built by
// scripts/build-worker.sh. One capnp configuration per instance: the Worker's modules, its wasm
// as a `wasm` module, the gateway configuration as a text binding (embedded from a file, so no
// capnp escaping), the origin, and optionally the RateLimiter Durable Object.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { cleanup, REPO, stopChild, tempDir } from './envoy.mjs';

export const WORKERD_BIN = process.env.TOKENWARDEN_WORKERD ?? path.join(REPO, 'node_modules/.bin/workerd');
export const WORKER_DIR = path.join(REPO, 'filters/worker');
const DIST = path.join(WORKER_DIR, 'dist');
const LIB = path.dirname(fileURLToPath(import.meta.url));
const METRICS_MODULE = 'tokenwarden-test:analytics-engine';

/**
 * The capnp module list of the Worker, paths relative to `dir` (where the config file is);
 * `testModule` is put first, as the main module (a `workerd test` module importing the Worker).
 */
export function workerModules(dir, testModule) {
  const rel = (p) => JSON.stringify(path.relative(dir, p));
  return [
    testModule && `(name = "test.mjs", esModule = embed ${rel(testModule)})`,
    `(name = "src/worker.mjs", esModule = embed ${rel(path.join(WORKER_DIR, 'src/worker.mjs'))})`,
    `(name = "dist/tokenwarden.js", esModule = embed ${rel(path.join(DIST, 'tokenwarden.js'))})`,
    `(name = "dist/tokenwarden_bg.wasm", wasm = embed ${rel(path.join(DIST, 'tokenwarden_bg.wasm'))})`,
  ].filter(Boolean);
}

/**
 * The capnp configuration of one Worker listening on 127.0.0.1:`port`. `dir` holds the config
 * file (paths are embedded relative to it); `durable` adds the RATE_LIMITER binding, `metrics` a
 * TOKENWARDEN_METRICS dataset whose data points are written to the console (analytics_engine.mjs).
 */
export function workerdConfig({ dir, port, origin, configFile, durable = false, metrics = false }) {
  const rel = (p) => JSON.stringify(path.relative(dir, p));
  const modules = workerModules(dir);
  const bindings = [
    configFile && `(name = "TOKENWARDEN_CONFIG", text = embed ${rel(configFile)})`,
    origin && `(name = "ORIGIN", text = ${JSON.stringify(origin)})`,
    durable && '(name = "RATE_LIMITER", durableObjectNamespace = "RateLimiter")',
    metrics && `(name = "TOKENWARDEN_METRICS", wrapped = (moduleName = "${METRICS_MODULE}"))`,
  ].filter(Boolean);
  const extensions = metrics
    ? `extensions = [(modules = [(name = "${METRICS_MODULE}", internal = true, esModule = embed ${rel(path.join(LIB, 'analytics_engine.mjs'))})])],`
    : '';
  const durableParts = durable
    ? `durableObjectNamespaces = [(className = "RateLimiter", uniqueKey = "tokenwarden-rate-limiter")],
    durableObjectStorage = (inMemory = void),`
    : '';
  return `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    # Loopback and private addresses: the origin, JWKS and introspection servers of the tests.
    (name = "internet", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [(name = "http", address = "127.0.0.1:${port ?? 0}", http = (), service = "main")],
  ${extensions}
);

const worker :Workerd.Worker = (
  modules = [
    ${modules.join(',\n    ')}
  ],
  compatibilityDate = "2025-11-01",
  bindings = [
    ${bindings.join(',\n    ')}
  ],
  ${durableParts}
  globalOutbound = "internet",
);
`;
}

/** One running workerd. */
export class Workerd {
  constructor({ child, dir, port }) {
    Object.assign(this, { child, dir, port });
    this.pid = child.pid;
    this.output = '';
    for (const stream of [child.stdout, child.stderr]) {
      stream.setEncoding('utf8');
      stream.on('data', (chunk) => {
        // Kept apart from the capped output: a panic early in a long run must not scroll away.
        this.panic ??= /^.*(panicked at|Uncaught).*$/m.exec(this.output.slice(-512) + chunk)?.[0];
        this.output = (this.output + chunk).slice(-262144);
      });
    }
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  /** The console lines written so far (console.log/warn/error of the Worker). */
  lines() {
    return this.output.split('\n');
  }

  /**
   * SIGTERM by PID, then SIGKILL if workerd has not exited after `graceMs`. Throws if the Worker
   * panicked or threw uncaught while it ran: it must answer every request, failing closed, so no
   * suite may pass over one, whatever its own assertions saw.
   */
  async stop(graceMs = 3000) {
    const result = await stopChild(this.child, this.exited, graceMs);
    if (this.panic) throw new Error(`the Worker panicked or threw (workerd in ${this.dir}): ${this.panic}`);
    return result;
  }
}

/**
 * Starts workerd serving the Worker with `gatewayConfig` (an object, or raw text) in front of
 * `origin` on `port`; resolves once the port accepts connections.
 */
export async function startWorkerd({ gatewayConfig, origin, port, durable = false, metrics = false, timeoutMs = 20000 }) {
  if (!existsSync(WORKERD_BIN)) throw new Error(`no workerd at ${WORKERD_BIN}: run scripts/setup.sh`);
  if (!existsSync(path.join(DIST, 'tokenwarden_bg.wasm'))) throw new Error(`no Worker build in ${DIST}: run make worker`);
  const dir = await tempDir('workerd-');
  const configFile = path.join(dir, 'gateway.json');
  await writeFile(configFile, typeof gatewayConfig === 'string' ? gatewayConfig : JSON.stringify(gatewayConfig));
  const capnp = path.join(dir, 'config.capnp');
  await writeFile(capnp, workerdConfig({ dir, port, origin, configFile, durable, metrics }));
  return spawnWorkerd(['serve', capnp, '--verbose'], { dir, port, timeoutMs });
}

/** Serves a hand-written capnp configuration (in `dir`) and resolves once `port` accepts. */
export async function serveWorkerd({ dir, capnp, port, timeoutMs = 20000 }) {
  if (!existsSync(WORKERD_BIN)) throw new Error(`no workerd at ${WORKERD_BIN}: run scripts/setup.sh`);
  return spawnWorkerd(['serve', capnp, '--verbose'], { dir, port, timeoutMs });
}

/** Runs `workerd test` on a config; resolves `{ code, output }`. */
export async function testWorkerd(capnp, { timeoutMs = 60000 } = {}) {
  const child = spawn(WORKERD_BIN, ['test', capnp, '--verbose'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  for (const stream of [child.stdout, child.stderr]) {
    stream.setEncoding('utf8');
    stream.on('data', (c) => (output += c));
  }
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code] = await once(child, 'exit');
  clearTimeout(timer);
  return { code, output };
}

async function spawnWorkerd(args, { dir, port, timeoutMs }) {
  const child = spawn(WORKERD_BIN, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  await once(child, 'spawn');
  const w = new Workerd({ child, dir, port });
  let exited = false;
  w.exited.then(() => (exited = true));
  const deadline = Date.now() + timeoutMs;
  while (!exited && Date.now() < deadline) {
    if (await accepts(port)) return w;
    await new Promise((r) => setTimeout(r, 50));
  }
  await w.stop();
  await cleanup(dir);
  throw new Error(`workerd ${exited ? 'exited' : 'did not listen'}; output tail:\n${w.output.slice(-3000)}`);
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
