// The size job: PKCE login redirect, the callback's code exchange, then a refresh.
import { AuthClient } from 'tokenwarden';

const client = new AuthClient({ issuer: 'https://as.example', clientId: 'spa', redirectUri: `${location.origin}/callback`, scopes: ['openid', 'offline_access'] });
if (location.pathname === '/callback') {
  await client.handleRedirectCallback();
  document.body.textContent = await client.getAccessToken();
} else {
  await client.login();
}
