// The size job with oidc-client-ts's UserManager: login redirect, callback, refresh (signinSilent uses the refresh token).
import { UserManager } from 'oidc-client-ts';

const mgr = new UserManager({ authority: 'https://as.example', client_id: 'spa', redirect_uri: `${location.origin}/callback`, scope: 'openid offline_access' });
if (location.pathname === '/callback') {
  await mgr.signinRedirectCallback();
  document.body.textContent = (await mgr.signinSilent()).access_token;
} else {
  await mgr.signinRedirect();
}
