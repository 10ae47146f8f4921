// The whole path of a GoPie public token (shared/reference/000, createPublicToken) in real
// Chromium: the customer's backend (a small local HTTP server in this test, playing the
// customer's app) mints scoped tokens with mintScopedToken at POST /api/gopie-token for a
// signed-in user; the page's BackendTokenClient fetches them (one request for two tabs) and
// calls the GoPie API through the GoPie profile (examples/platforms/gopie/gateway.json, its
// `customer-public-tokens` provider) on Envoy + the filter and on workerd + the Worker, which
// hold the token to its scopes, datasets and organisation. The backend proxies /envoy/… and
// /worker/… to the edges so the page stays same-origin.
//
// Needs `make js filter worker` (TOKENWARDEN_FILTER_WASM when CARGO_TARGET_DIR is set).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { generateSigningKey, mintScopedToken, publicJwk } from 'tokenwarden';
import { startHosts, send, withLocalSources } from '../e2e/lib/hosts.mjs';
import { startDocumentServer, startEchoServer } from '../e2e/lib/http.mjs';
import { issuerFor } from '../e2e/lib/jwt.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const tmp = `${root}.tmp/`;
mkdirSync(tmp, { recursive: true });
process.env.TMPDIR = tmp;

const key = generateSigningKey('ES256', 'customer-backend-1');
const grant = { scopes: ['read:data', 'read:datasets', 'execute:queries.readonly'], datasets: ['public_data', 'sales'], maxTtl: 3600, claims: { org: 'acme' } };
let docs, origin, edges, app, context, profile;
const minted = [];

/** The customer's app: the page, the package, the token endpoint for a signed-in user, and the edges behind /envoy and /worker. */
function startApp(ports) {
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    if (url.pathname === '/api/gopie-token' && req.method === 'POST') {
      if (req.headers.cookie !== 'session=alice') return res.writeHead(401).end('{}');
      minted.push(Date.now());
      const token = mintScopedToken({ privateKey: key, issuer: 'https://app.customer.example', audience: 'https://api.gopie.app', grant, subject: 'alice', scopes: ['read:datasets'], datasets: ['public_data'], expiresIn: 600 });
      return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token }));
    }
    const edge = url.pathname.match(/^\/(envoy|worker)(\/v1\/.*)$/);
    if (edge) {
      const answer = await send(ports[edge[1]], { method: req.method, path: edge[2], headers: { authorization: req.headers.authorization ?? '', 'x-forwarded-for': '192.0.2.10' } });
      return res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body);
    }
    if (url.pathname.startsWith('/pkg/') && !url.pathname.includes('..')) {
      const type = url.pathname.endsWith('.wasm') ? 'application/wasm' : 'text/javascript';
      try {
        return res.writeHead(200, { 'content-type': type }).end(readFileSync(root + url.pathname.slice(1)));
      } catch {
        return res.writeHead(404).end();
      }
    }
    res.writeHead(200, { 'content-type': 'text/html', 'set-cookie': 'session=alice; Path=/' }).end('<!doctype html><title>customer app</title>');
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ origin: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) })));
}

before(async () => {
  const gopieAuth = issuerFor('RS256', { issuer: 'https://auth.gopie.app', kid: 'gopie-2026' });
  docs = await startDocumentServer({
    '/.well-known/jwks.json': gopieAuth.jwks,
    '/keys.json': JSON.parse(readFileSync(`${root}examples/platforms/gopie/keys.json`, 'utf8')),
    '/.well-known/tokenwarden-jwks.json': { keys: [publicJwk(key)] },
  });
  origin = await startEchoServer();
  const gatewayConfig = withLocalSources(JSON.parse(readFileSync(`${root}examples/platforms/gopie/gateway.json`, 'utf8')), docs.port);
  edges = await startHosts({ gatewayConfig, originPort: origin.port, clusters: { docs: docs.port } });
  app = await startApp(edges.hosts);
  profile = mkdtempSync(`${tmp}chromium-`);
  context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await context?.close();
  await app?.close();
  await edges?.stop();
  await origin?.stop();
  await docs?.stop();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

async function openPage() {
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(`${app.origin}/`);
  await page.evaluate(async () => {
    const { BackendTokenClient } = await import('/pkg/dist/browser.js');
    window.gopie = new BackendTokenClient({ tokenSource: { endpoint: '/api/gopie-token' } });
  });
  return page;
}

test('two tabs get one token from the backend; the edges hold it to its scopes, datasets and organisation', async () => {
  const [tab1, tab2] = [await openPage(), await openPage()];
  const before = minted.length;
  const [t1, t2] = await Promise.all([tab1, tab2].map((tab) => tab.evaluate(() => Promise.all([window.gopie.getToken(), window.gopie.getToken()]))));
  assert.equal(minted.length - before, 1, 'one backend request for two tabs and four callers');
  assert.equal(new Set([...t1, ...t2]).size, 1);

  for (const edge of ['envoy', 'worker']) {
    // Warm-up: an edge answers 503 until it has the backend's keys.
    for (let i = 0; i < 100; i++) {
      const status = await tab1.evaluate((p) => window.gopie.fetch(p).then((r) => r.status), `/${edge}/v1/acme/web/datasets/public_data`);
      if (status !== 503) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const statuses = await tab1.evaluate(async (edge) => {
      const call = (path, init) => window.gopie.fetch(`/${edge}${path}`, init).then(async (r) => [r.status, await r.json()]);
      return {
        publicData: await call('/v1/acme/web/datasets/public_data'),
        sales: await call('/v1/acme/web/datasets/sales'),
        write: await call('/v1/acme/web/data', { method: 'POST' }),
        otherOrg: await call('/v1/globex/web/datasets/public_data'),
      };
    }, edge);
    assert.equal(statuses.publicData[0], 200, `${edge}: ${JSON.stringify(statuses)}`);
    assert.equal(statuses.publicData[1].headers['x-auth-sub'], 'alice');
    assert.equal(statuses.publicData[1].headers['x-gopie-org'], 'acme');
    assert.equal(statuses.publicData[1].headers.authorization, undefined, `${edge}: the token is stripped before the origin`);
    for (const refused of ['sales', 'write', 'otherOrg']) {
      assert.equal(statuses[refused][0], 403, `${edge} ${refused}: ${JSON.stringify(statuses[refused])}`);
      assert.equal(statuses[refused][1].error.code, 'INSUFFICIENT_PERMISSIONS');
    }
  }
  assert.equal(minted.length - before, 1, 'the token was reused for every call');
  await tab1.close();
  await tab2.close();
});
