// The size job with every browser feature: PKCE (pushed authorization requests), the callback,
// refresh through fetch, credential login, a backend token source, the user, userinfo and
// RP-initiated logout with revocation.
import { AuthClient, BackendTokenClient } from 'tokenwarden';

const client = new AuthClient({ issuer: 'https://as.example', clientId: 'spa', redirectUri: `${location.origin}/callback`, scopes: ['openid', 'offline_access'], par: true });
const platform = new AuthClient({ issuer: 'https://api.example', clientId: 'spa', credentialLogin: { endpoint: 'https://api.example/api/v1/auth/token' }, refreshEndpoint: 'https://api.example/api/v1/auth/refresh', refreshBody: 'token-only' });
const backend = new BackendTokenClient({ tokenSource: { endpoint: '/api/token' } });
if (location.pathname === '/callback') {
  await client.handleRedirectCallback();
  const user = await client.getUser();
  const info = await client.userinfo();
  await client.fetch('/api/me');
  document.body.textContent = `${user?.sub} ${info.sub}`;
} else if (location.pathname === '/login') {
  await platform.loginWithCredentials({ username: 'u', password: 'p' });
  await backend.fetch('/api/data');
} else if (location.pathname === '/logout') {
  await client.logout({ revoke: true, endSession: true });
} else {
  await client.login();
}
