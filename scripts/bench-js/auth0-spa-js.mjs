// The size job with @auth0/auth0-spa-js: login redirect, callback, refresh (refresh tokens on).
import { createAuth0Client } from '@auth0/auth0-spa-js';

const auth0 = await createAuth0Client({ domain: 'as.example', clientId: 'spa', useRefreshTokens: true, authorizationParams: { redirect_uri: `${location.origin}/callback` } });
if (location.pathname === '/callback') {
  await auth0.handleRedirectCallback();
  document.body.textContent = await auth0.getTokenSilently({ cacheMode: 'off' });
} else {
  await auth0.loginWithRedirect();
}
