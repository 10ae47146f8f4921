// The app each bundler builds (tests/bundlers): `tokenwarden` from the installed tarball, a PKCE
// sign-in with AuthClient, the callback, then the ID token's user and the access token's claims
// on the page. The issuer comes in the first page's `#issuer=` and is kept across the redirect.
import { AuthClient } from 'tokenwarden';

const issuer = new URLSearchParams(location.hash.slice(1)).get('issuer');
if (issuer) sessionStorage.setItem('issuer', issuer);
const auth = new AuthClient({
  issuer: sessionStorage.getItem('issuer'),
  clientId: 'spa',
  redirectUri: `${location.origin}/callback`,
  scopes: ['openid', 'api:read'],
  resource: 'https://api.example',
});
const status = (s) => (document.getElementById('status').textContent = s);
const claims = (jwt) => JSON.parse(atob(jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));

document.getElementById('login').onclick = () => auth.login({ prompt: 'consent' });
window.app = { token: () => auth.getAccessToken() };

if (location.pathname === '/callback') {
  auth.handleRedirectCallback().then(async () => {
    const user = await auth.getUser();
    const token = claims(await auth.getAccessToken());
    document.getElementById('user').textContent = JSON.stringify({ sub: user.sub, token });
    status('signed in');
  }, (e) => status(`callback refused: ${e.code}`));
} else {
  status('ready');
}
