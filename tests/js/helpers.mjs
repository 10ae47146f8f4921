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
