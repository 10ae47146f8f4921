// A real OpenID provider (oidc-provider 9) on 127.0.0.1 for the browser test: a public client
// that must use PKCE, rotating refresh tokens, RS256 JWT access tokens with a short lifetime.
// With `mount` (e.g. `/realms/acme`) it is served under that path, so its issuer has a path as
// Keycloak's and Okta's do. `redirectUri` may be a list (one SPA per bundler, tests/bundlers).
import http from 'node:http';
import Provider from 'oidc-provider';
import * as jose from 'jose';

export const API_AUDIENCE = 'https://api.example';

export async function startProvider({ port, redirectUri, accessTokenTtl, mount = '' }) {
  const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await jose.exportJWK(privateKey)), kid: 'op-1', alg: 'RS256', use: 'sig' };
  const issuer = `http://127.0.0.1:${port}${mount}`;
  const counts = { refresh: 0, code: 0, refreshErrors: 0 };
  const provider = new Provider(issuer, {
    clients: [{
      client_id: 'spa',
      token_endpoint_auth_method: 'none',
      redirect_uris: [redirectUri].flat(),
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
    }],
    jwks: { keys: [jwk] },
    pkce: { required: () => true },
    rotateRefreshToken: true,
    issueRefreshToken: async (ctx, client, code) => client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
    clientBasedCORS: () => true,
    scopes: ['openid', 'offline_access', 'api:read'],
    features: {
      devInteractions: { enabled: true },
      pushedAuthorizationRequests: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => API_AUDIENCE,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: 'api:read',
          audience: API_AUDIENCE,
          accessTokenTTL: accessTokenTtl,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
    ttl: { RefreshToken: 3600, Session: 3600, Grant: 3600, Interaction: 600, AuthorizationCode: 60, IdToken: 3600 },
  });
  provider.on('grant.success', (ctx) => {
    if (ctx.oidc.params.grant_type === 'refresh_token') counts.refresh++;
    if (ctx.oidc.params.grant_type === 'authorization_code') counts.code++;
  });
  provider.on('grant.error', (ctx) => {
    if (ctx.oidc.params?.grant_type === 'refresh_token') counts.refreshErrors++;
  });
  const callback = provider.callback();
  // Mounted as a reverse proxy or an express app mounts it: the provider sees the path below the
  // mount point and learns the mount from `originalUrl`.
  const server = http.createServer((req, res) => {
    if (!req.url.startsWith(`${mount}/`)) return res.writeHead(404).end();
    req.originalUrl = req.url;
    req.url = req.url.slice(mount.length);
    callback(req, res);
  });
  server.listen(port, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return { issuer, counts, close: () => new Promise((resolve) => server.close(resolve)) };
}
