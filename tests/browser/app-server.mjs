// The test app on 127.0.0.1: the SPA (index.html for every page path), the built package under
// /pkg/, and a protected API that verifies the provider's JWT access tokens with verifyJwt.
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { verifyJwt } from 'tokenwarden';

const root = fileURLToPath(new URL('../../', import.meta.url));
const types = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html', '.json': 'application/json' };

export async function startApp({ port, issuer, audience }) {
  const apiCalls = [];
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, `http://127.0.0.1:${port}`);
    try {
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
  return { origin: `http://127.0.0.1:${port}`, apiCalls, close: () => new Promise((resolve) => server.close(resolve)) };
}
