// The SPA under test: signs in with AuthClient, finishes the redirect on /callback, calls the
// protected API. The test drives it through window.app.
import { AuthClient } from 'tokenwarden';

const params = new URLSearchParams(location.hash.slice(1));
// `#issuer=…&storage=…` on the first page; kept across the redirect and reloads.
for (const name of ['issuer', 'storage']) if (params.get(name)) sessionStorage.setItem(name, params.get(name));
const client = new AuthClient({
  issuer: sessionStorage.getItem('issuer'),
  clientId: 'spa',
  redirectUri: `${location.origin}/callback`,
  scopes: ['openid', 'offline_access', 'api:read'],
  resource: 'https://api.example',
  storage: sessionStorage.getItem('storage') ?? 'memory',
});

const events = [];
for (const e of ['tokens_updated', 'session_expired', 'logout', 'error']) client.on(e, () => events.push(e));
const status = (s) => (document.getElementById('status').textContent = s);

async function callApi() {
  const res = await client.fetch('/api/data');
  return { status: res.status, body: await res.json() };
}

window.app = {
  events,
  login: () => client.login({ prompt: 'consent' }),
  buildAuthorizeUrl: () => client.buildAuthorizeUrl(),
  callApi,
  token: () => client.getAccessToken(),
  isAuthenticated: () => client.isAuthenticated(),
  logout: () => client.logout(),
};
document.getElementById('login').onclick = () => window.app.login();

if (location.pathname === '/callback') {
  window.app.callback = client.handleRedirectCallback().then(
    () => status('signed in'),
    (e) => status(`callback refused: ${e.code}`),
  );
} else {
  status('ready');
}
