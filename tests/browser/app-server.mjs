// The test app on 127.0.0.1: the SPA (index.html for every page path), the built package under
// /pkg/, a protected API that verifies the provider's JWT access tokens with verifyJwt, and
// Olytix's username-and-password endpoints (reference guide 003), JSON bodies of exactly the
// documented fields.
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { verifyJwt } from 'tokenwarden';

const root = fileURLToPath(new URL('../../', import.meta.url));
const types = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html', '.json': 'application/json' };

export async function startApp({ port, issuer, audience }) {
  const apiCalls = [];
  const olytix = { logins: 0, refreshes: 0, refresh: undefined };
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, `http://127.0.0.1:${port}`);
    try {
      if (url.pathname.startsWith('/api/v1/auth/') && req.method === 'POST') {
        const chunks = [];
        for await (const c of req) chunks.push(c);
        const reply = (status, body) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
        const body = JSON.parse(Buffer.concat(chunks).toString() || 'null');
        const keys = JSON.stringify(Object.keys(body ?? {}).sort());
        const ok = url.pathname === '/api/v1/auth/token'
          ? keys === '["password","username"]' && body.username === 'user@company.com' && body.password === 'your-password' && ++olytix.logins
          : keys === '["refresh_token"]' && body.refresh_token === olytix.refresh && ++olytix.refreshes;
        if (!ok) return reply(401, { error: { code: 'UNAUTHORIZED', message: 'Invalid or missing authentication' } });
        olytix.refresh = `refresh_${randomBytes(16).toString('hex')}`;
        return reply(200, { access_token: `olytix.${randomBytes(16).toString('hex')}`, token_type: 'bearer', expires_in: 3600, refresh_token: olytix.refresh });
      }
      if (url.pathname === '/api/data') {
        const auth = req.headers.authorization ?? '';
        try {
          const claims = await verifyJwt(auth.replace(/^Bearer /, ''), { issuer, audience, algorithms: ['RS256'], typ: 'at+jwt' });
          apiCalls.push({ ok: true, jti: claims.jti });
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ sub: claims.sub, scope: claims.scope }));
        } catch (e) {
          apiCalls.push({ ok: false, code: e.code });
          res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer' }).end(JSON.stringify({ error: e.code }));
        }
        return;
      }
      const file = url.pathname.startsWith('/pkg/') || url.pathname.startsWith('/tests/browser/app/')
        ? url.pathname.slice(1)
        : 'tests/browser/app/index.html';
      if (file.includes('..')) throw new Error('path');
      const body = await readFile(root + file);
      const ext = file.slice(file.lastIndexOf('.'));
      res.writeHead(200, { 'content-type': types[ext] ?? 'application/octet-stream', 'cache-control': 'no-store' }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { origin: `http://127.0.0.1:${port}`, apiCalls, olytix, close: () => new Promise((resolve) => server.close(resolve)) };
}
