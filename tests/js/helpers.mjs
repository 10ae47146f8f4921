// A real HTTP server on 127.0.0.1 for the tests: routes are plain functions, every request is
// recorded so tests can count what the SDK sent.
import http from 'node:http';

export async function serve(routes) {
  const requests = [];
  const server = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks).toString();
    const entry = { method: req.method, path: req.url, headers: req.headers, body };
    requests.push(entry);
    const route = routes[`${req.method} ${req.url.split('?')[0]}`];
    if (!route) {
      res.writeHead(404).end();
      return;
    }
    const out = await route(entry, requests);
    res.writeHead(out.status ?? 200, { 'content-type': 'application/json', ...(out.headers ?? {}) });
    res.end(typeof out.body === 'string' ? out.body : JSON.stringify(out.body ?? {}));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${server.address().port}`;
  return {
    origin,
    requests,
    count: (method, path) => requests.filter((r) => r.method === method && r.path.split('?')[0] === path).length,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A user agent for an oidc-provider at `issuer` (devInteractions): keeps cookies, follows
 * redirects, answers the login (as alice), consent and logout forms, and returns the first URL
 * it is sent to outside the provider (a redirect URI, a post-logout page).
 */
export function providerUserAgent(issuer) {
  const jar = new Map();
  return async function visit(url) {
    let req = { url, method: 'GET' };
    for (let step = 0; step < 12; step++) {
      const headers = { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') };
      if (req.body) headers['content-type'] = 'application/x-www-form-urlencoded';
      const res = await fetch(req.url, { method: req.method, body: req.body, headers, redirect: 'manual' });
      for (const c of res.headers.getSetCookie()) {
        const [pair] = c.split(';');
        jar.set(pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1));
      }
      const location = res.headers.get('location');
      if (location) {
        const next = new URL(location, req.url).href;
        if (!next.startsWith(issuer)) return next;
        req = { url: next, method: 'GET' };
        continue;
      }
      const html = await res.text();
      const action = html.match(/action="([^"]+)"/)?.[1];
      if (!action) throw new Error(`no form at ${req.url}: ${res.status}`);
      const form = new URLSearchParams();
      const xsrf = html.match(/name="xsrf" value="([^"]+)"/)?.[1];
      const prompt = html.match(/name="prompt" value="([^"]+)"/)?.[1];
      if (xsrf) form.set('xsrf', xsrf), form.set('logout', 'yes');
      if (prompt) form.set('prompt', prompt);
      if (prompt === 'login') form.set('login', 'alice'), form.set('password', 'any');
      req = { url: new URL(action.replaceAll('&amp;', '&'), req.url).href, method: 'POST', body: form.toString() };
    }
    throw new Error('the provider did not send the user agent back');
  };
}
