// The demo's origin: a small API behind the edge (Envoy or the Worker) and the demo page. The API
// trusts only the identity headers the edge sets (the edge removes any a client sends), so its
// answers show what the edge decided. Cross-origin calls from the page to the Worker are allowed.
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const types = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html', '.css': 'text/css' };
const IDENTITY = ['x-auth-sub', 'x-auth-scopes', 'x-auth-key-id', 'x-auth-credential', 'x-auth-issuer', 'x-auth-rule'];

/** Serves the page (every non-API path), the built package under /pkg/, and /api/*. */
export async function startApi({ port, pageOrigin }) {
  const calls = [];
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://origin');
    const cors = {
      'access-control-allow-origin': pageOrigin,
      'access-control-allow-headers': 'authorization, x-api-key',
      'access-control-expose-headers': 'x-ratelimit-limit, x-ratelimit-remaining, retry-after',
    };
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { ...cors, 'access-control-allow-methods': 'GET' }).end();
      return;
    }
    if (url.pathname.startsWith('/api/')) {
      const identity = Object.fromEntries(IDENTITY.filter((h) => req.headers[h]).map((h) => [h, req.headers[h]]));
      calls.push({ path: url.pathname, identity });
      const body = { message: `hello from the API (${url.pathname})`, served_at: new Date().toISOString(), identity };
      res.writeHead(200, { ...cors, 'content-type': 'application/json' }).end(JSON.stringify(body));
      return;
    }
    const file = url.pathname.startsWith('/pkg/dist/') || url.pathname.startsWith('/demo/page/')
      ? url.pathname.slice(1)
      : 'demo/page/index.html';
    try {
      if (file.includes('..')) throw new Error('path');
      const body = await readFile(root + file);
      const type = types[file.slice(file.lastIndexOf('.'))] ?? 'application/octet-stream';
      res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port,
    calls,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}
