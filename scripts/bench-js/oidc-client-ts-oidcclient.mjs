// The size job with oidc-client-ts's lower-level OidcClient: login request, callback, refresh.
import { OidcClient } from 'oidc-client-ts';

const client = new OidcClient({ authority: 'https://as.example', client_id: 'spa', redirect_uri: `${location.origin}/callback`, scope: 'openid offline_access' });
if (location.pathname === '/callback') {
  const response = await client.processSigninResponse(location.href);
  const refreshed = await client.useRefreshToken({ state: { refresh_token: response.refresh_token, session_state: null, profile: response.profile } });
  document.body.textContent = refreshed.access_token;
} else {
  location.assign((await client.createSigninRequest({})).url);
}
