// An issuer with a path, as Keycloak realms and Okta authorization servers publish: a real
// OpenID provider (oidc-provider 9) mounted under /realms/acme on 127.0.0.1, so its issuer is
// http://127.0.0.1:<port>/realms/acme and its discovery document
// <issuer>/.well-known/openid-configuration. The SDK (ServiceClient and verifyJwt, both by
// discovery), the Envoy filter (a discovery source with a cluster and no path) and the Worker (a
// discovery source whose url is the issuer) must all find the keys and accept its JWT access
// tokens. Before, Envoy asked the server root and answered 503, and the Worker fetched the
// issuer URL as-is.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import { after, before, test } from 'node:test';

import Provider from 'oidc-provider';
import { ServiceClient, verifyJwt } from 'tokenwarden';

import { freePort, startGateway, stopGateway } from './lib/envoy.mjs';
import { bearer, request, startEchoServer } from './lib/http.mjs';
import { startWorkerd } from './lib/workerd.mjs';

const MOUNT = '/realms/acme';
const AUDIENCE = 'https://api.acme.test';
const APP = { client_id: 'acme-service', client_secret: 'acme-secret-0123456789abcdef0123456789' };

let upstream;
let idp;
let issuer;
let port;
const hits = [];

before(async () => {
  upstream = await startEchoServer();
  port = await freePort();
  issuer = `http://127.0.0.1:${port}${MOUNT}`;
  const provider = new Provider(issuer, {
    clients: [{ ...APP, grant_types: ['client_credentials'], redirect_uris: [], response_types: [], scope: 'api:read' }],
    scopes: ['api:read'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => AUDIENCE,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({ scope: 'api:read', audience: AUDIENCE, accessTokenTTL: 600, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } }),
      },
    },
  });
  const callback = provider.callback();
  // Mounted the way a reverse proxy or an express app mounts it: the provider sees the path
  // below the mount point and learns the mount from `originalUrl`.
  idp = http.createServer((req, res) => {
    hits.push(req.url);
    if (!req.url.startsWith(`${MOUNT}/`)) return res.writeHead(404).end();
    req.originalUrl = req.url;
    req.url = req.url.slice(MOUNT.length);
    callback(req, res);
  });
  idp.listen(port, '127.0.0.1');
  await once(idp, 'listening');
});

after(async () => {
  idp?.closeAllConnections();
  await new Promise((resolve) => (idp ? idp.close(resolve) : resolve()));
  await upstream?.stop();
});

const service = () => new ServiceClient({ issuer, clientId: APP.client_id, clientSecret: APP.client_secret, scopes: ['api:read'] });

test('the SDK discovers the token endpoint and the keys under the issuer path', async () => {
  const token = await service().getToken();
  const claims = await verifyJwt(token, { issuer, audience: AUDIENCE });
  assert.equal(claims.iss, issuer);
  assert.equal(claims.client_id, APP.client_id);
  assert.ok(hits.includes(`${MOUNT}/.well-known/openid-configuration`), hits.join(' '));
  assert.ok(!hits.includes('/.well-known/openid-configuration'), 'never the server root');
});

const gatewayConfig = (jwks) => ({ providers: [{ name: 'acme', issuer, audiences: [AUDIENCE], jwks: { discovery: jwks } }] });

/** Asks until the first fetches are in (Envoy fetches on its first tick), then once more. */
async function accepted(listenPort, token) {
  let res;
  for (let i = 0; i < 50; i++) {
    res = await request(listenPort, { path: '/orders', headers: bearer(token) });
    if (res.status !== 503) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return res;
}

test('the Envoy filter derives <issuer>/.well-known/openid-configuration from a cluster source without a path', async () => {
  const envoy = await startGateway({
    upstreamPort: upstream.port,
    pluginConfig: gatewayConfig({ cluster: 'idp', authority: `127.0.0.1:${port}` }),
    clusters: { idp: port },
  });
  try {
    const res = await accepted(envoy.listenerPort, await service().getToken());
    assert.equal(res.status, 200, res.body);
    assert.equal(JSON.parse(res.body).headers['x-auth-issuer'], issuer);
  } finally {
    await stopGateway(envoy);
  }
});

test('the Worker fetches the discovery document of a url equal to the issuer, then the jwks_uri it names', async () => {
  const workerPort = await freePort();
  const worker = await startWorkerd({ port: workerPort, origin: `http://127.0.0.1:${upstream.port}`, gatewayConfig: gatewayConfig({ url: issuer }) });
  try {
    const res = await accepted(workerPort, await service().getToken());
    assert.equal(res.status, 200, res.body);
    assert.equal(JSON.parse(res.body).headers['x-auth-issuer'], issuer);
  } finally {
    await worker.stop();
  }
});
