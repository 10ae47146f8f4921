// The demo page: signs in with AuthClient (PKCE), shows the access token's claims, calls the API
// through Envoy (same origin) and through the Worker, shows refreshes and refusals. The headless
// run (demo/run.mjs) drives the same page through window.demo.
import { AuthClient } from 'tokenwarden';

const config = await (await fetch('/demo/page/config.json')).json();
const client = new AuthClient({
  issuer: config.issuer,
  clientId: config.clientId,
  redirectUri: `${location.origin}/callback`,
  scopes: ['openid', 'offline_access', 'api:read'],
  resource: config.audience,
});

const $ = (id) => document.getElementById(id);
const log = (id, line) => ($(id).textContent = `${new Date().toLocaleTimeString()} ${line}\n${$(id).textContent}`);
const events = [];
for (const e of ['tokens_updated', 'session_expired', 'logout', 'error']) {
  client.on(e, () => {
    events.push(e);
    log('events', e);
    if (e === 'tokens_updated') showClaims();
  });
}

/** The claims, for display only: the API never trusts this, the edge verifies the signature. */
function claimsOf(token) {
  const payload = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
  return JSON.parse(atob(payload));
}

async function showClaims() {
  const token = await client.getAccessToken().catch(() => undefined);
  $('claims').textContent = token ? JSON.stringify(claimsOf(token), null, 2) : '—';
}

async function answer(label, res) {
  const body = await res.text();
  log('answers', `${label}: ${res.status} ${body}`);
  return { status: res.status, body: body ? JSON.parse(body) : null };
}

async function callEnvoy(path = '/api/hello') {
  return answer(`Envoy ${path}`, await client.fetch(path));
}

async function callWorker(path = '/api/hello') {
  const token = await client.getAccessToken();
  return answer(`Worker ${path}`, await fetch(`${config.workerOrigin}${path}`, { headers: { authorization: `Bearer ${token}` } }));
}

async function callTampered() {
  const token = await client.getAccessToken();
  const [h, p, s] = token.split('.');
  const claims = claimsOf(token);
  claims.sub = 'admin';
  const forged = btoa(JSON.stringify(claims)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  const res = await fetch('/api/hello', { headers: { authorization: `Bearer ${h}.${forged}.${s}` } });
  return answer('Envoy, tampered token', res);
}

function signedIn(yes) {
  for (const id of ['envoy', 'worker', 'tampered', 'logout']) $(id).disabled = !yes;
  $('login').disabled = yes;
}

window.demo = {
  events,
  login: () => client.login({ prompt: 'consent' }),
  callEnvoy,
  callWorker,
  callTampered,
  token: () => client.getAccessToken(),
  logout: async () => {
    await client.logout();
    signedIn(false);
    $('claims').textContent = '—';
    $('status').textContent = 'signed out';
  },
  isAuthenticated: () => client.isAuthenticated(),
};
$('login').onclick = () => window.demo.login();
$('envoy').onclick = () => callEnvoy();
$('worker').onclick = () => callWorker();
$('tampered').onclick = () => callTampered();
$('logout').onclick = () => window.demo.logout();

if (location.pathname === '/callback') {
  window.demo.ready = client.handleRedirectCallback().then(
    async () => {
      $('status').textContent = 'signed in';
      signedIn(true);
      await showClaims();
    },
    (e) => ($('status').textContent = `sign-in refused: ${e.code}`),
  );
} else {
  window.demo.ready = client.isAuthenticated().then(async (yes) => {
    signedIn(yes);
    $('status').textContent = yes ? 'signed in' : 'signed out';
    if (yes) await showClaims();
  });
}
