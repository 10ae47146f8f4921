// The size job with oauth4webapi: discovery, PKCE login redirect, code exchange, refresh.
import * as oauth from 'oauth4webapi';

const issuer = new URL('https://as.example');
const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer));
const client = { client_id: 'spa' };
const auth = oauth.None();
const redirectUri = `${location.origin}/callback`;
if (location.pathname === '/callback') {
  const params = oauth.validateAuthResponse(as, client, new URL(location.href), sessionStorage.getItem('state'));
  const res = await oauth.authorizationCodeGrantRequest(as, client, auth, params, redirectUri, sessionStorage.getItem('verifier'));
  const tokens = await oauth.processAuthorizationCodeResponse(as, client, res, { expectedNonce: sessionStorage.getItem('nonce') });
  const refreshed = await oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(as, client, auth, tokens.refresh_token));
  document.body.textContent = refreshed.access_token;
} else {
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const nonce = oauth.generateRandomNonce();
  sessionStorage.setItem('verifier', verifier);
  sessionStorage.setItem('state', state);
  sessionStorage.setItem('nonce', nonce);
  const url = new URL(as.authorization_endpoint);
  url.search = new URLSearchParams({ client_id: 'spa', redirect_uri: redirectUri, response_type: 'code', scope: 'openid offline_access', state, nonce, code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
  location.assign(url);
}
