// `make demo`: a real OpenID provider (oidc-provider), a small API, Envoy with the tokenwarden
// filter and the tokenwarden Worker in workerd in front of it, both reading one configuration,
// and a page that signs in with PKCE through the SDK. Prints the URLs and runs until Ctrl-C,
// which stops everything it started, by PID. DEMO_HEADLESS=1 runs the scenario in headless
// Chromium instead and prints a pass/fail table (exit 1 if a step fails).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { REPO, bootstrap, cleanup, freePort, startEnvoy } from '../tests/e2e/lib/envoy.mjs';
import { API_AUDIENCE, startProvider } from '../tests/browser/provider.mjs';
import { startApi } from './api.mjs';
import { startWorkerd } from '../tests/e2e/lib/workerd.mjs';

const HEADLESS = process.env.DEMO_HEADLESS === '1';
/** Short, so the demo shows a refresh: the SDK refreshes ahead of expiry (half the lifetime here). */
const ACCESS_TTL = Number(process.env.DEMO_ACCESS_TTL ?? (HEADLESS ? 12 : 60));
const CLI = path.join(path.resolve(REPO, process.env.CARGO_TARGET_DIR ?? 'target'), 'debug/tokenwarden');
const dir = path.join(REPO, '.demo');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** API keys made with the CLI, as an operator would, into a store the edges read inline. */
function makeKeys() {
  const store = path.join(dir, 'keys.json');
  rmSync(store, { force: true });
  const create = (env, name) =>
    JSON.parse(execFileSync(CLI, ['keys', 'create', '--type', 'sk', '--env', env, '--name', name, '--permissions', 'api:read', '--store', store], { stdio: ['ignore', 'pipe', 'ignore'] })).key;
  const live = create('live', 'demo backend');
  const test = create('test', 'demo CI');
  return { live, test, store: JSON.parse(readFileSync(store, 'utf8')) };
}

/** The one configuration both edges read (docs/configuration.md, "Gateway configuration"). */
function gatewayConfig({ issuer, providerPort, keys }) {
  const anonymous = (name, p) => ({ name, method: 'GET', path: p, anonymous: true });
  return {
    realm: 'tokenwarden-demo',
    providers: [{
      name: 'demo-idp',
      issuer,
      audiences: [API_AUDIENCE],
      algorithms: ['RS256'],
      typ: 'at+jwt',
      // Envoy fetches through the `idp` cluster, the Worker from the URL.
      jwks: { discovery: { cluster: 'idp', authority: `127.0.0.1:${providerPort}`, url: issuer, refresh_secs: 300 } },
    }],
    api_keys: { store: { inline: keys.store }, environments: ['live'] },
    sources: [{ type: 'bearer' }, { type: 'header', name: 'x-api-key' }],
    policy: {
      rules: [
        anonymous('page', '/'),
        anonymous('callback', '/callback'),
        anonymous('page-files', '/demo/page/{file}'),
        anonymous('sdk', '/pkg/dist/{rest*}'),
        { name: 'hello', method: 'GET', path: '/api/hello', require: ['api:read'] },
        { name: 'limited', method: 'GET', path: '/api/limited', require: ['api:read'] },
      ],
    },
    rate_limits: [{ rule: 'limited', limit: '3/minute' }],
    failed_attempts: '30/minute',
  };
}

async function main() {
  mkdirSync(dir, { recursive: true });
  const started = [];
  const stopAll = async () => {
    for (const stop of started.reverse()) await stop().catch(() => {});
  };
  process.on('SIGINT', async () => {
    console.log('\nstopping…');
    await stopAll();
    process.exit(130);
  });
  try {
    const [providerPort, apiPort, envoyPort, adminPort, workerPort] = await Promise.all([1, 2, 3, 4, 5].map(() => freePort()));
    const pageOrigin = `http://127.0.0.1:${envoyPort}`;
    const workerOrigin = `http://127.0.0.1:${workerPort}`;
    const provider = await startProvider({ port: providerPort, redirectUri: `${pageOrigin}/callback`, accessTokenTtl: ACCESS_TTL });
    started.push(provider.close);
    const keys = makeKeys();
    const config = gatewayConfig({ issuer: provider.issuer, providerPort, keys });
    writeFileSync(path.join(dir, 'gateway.json'), JSON.stringify(config, null, 2));
    writeFileSync(
      path.join(REPO, 'demo/page/config.json'),
      JSON.stringify({ issuer: provider.issuer, clientId: 'spa', audience: API_AUDIENCE, workerOrigin }),
    );
    const api = await startApi({ port: apiPort, pageOrigin });
    started.push(api.close);
    mkdirSync(path.join(dir, 'envoy'), { recursive: true });
    const envoy = await startEnvoy({
      config: bootstrap({ listenerPort: envoyPort, adminPort, upstreamPort: apiPort, pluginConfig: config, clusters: { idp: providerPort } }),
      listenerPort: envoyPort,
      adminPort,
      dir: path.join(dir, 'envoy'),
    });
    started.push(async () => {
      await envoy.stop();
      await cleanup(envoy.dir);
    });
    const worker = await startWorkerd({ gatewayConfig: config, origin: `http://127.0.0.1:${apiPort}`, port: workerPort });
    started.push(async () => {
      await worker.stop();
      await cleanup(worker.dir);
    });

    console.log(`
tokenwarden demo — everything local, no account anywhere

  demo page (through Envoy)   ${pageOrigin}/
  API through Envoy           ${pageOrigin}/api/hello
  API through the Worker      ${workerOrigin}/api/hello
  OpenID provider             ${provider.issuer}  (any login and password)
  Envoy admin (stats)         http://127.0.0.1:${adminPort}/stats?filter=tokenwarden
  API keys                    x-api-key: ${keys.live}   (sk_test_ refused: ${keys.test.slice(0, 12)}…)
  gateway configuration       .demo/gateway.json
`);
    if (!HEADLESS) {
      console.log('Ctrl-C stops everything.');
      await new Promise(() => {});
    }
    const { scenario } = await import('./headless.mjs');
    const ok = await scenario({ pageOrigin, workerOrigin, keys, provider, dir, accessTtl: ACCESS_TTL });
    await stopAll();
    process.exit(ok ? 0 : 1);
  } catch (e) {
    console.error(`demo: ${e.stack ?? e}`);
    await stopAll();
    process.exit(1);
  }
}

await main();
