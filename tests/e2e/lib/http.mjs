// The upstream echo server and a plain HTTP client (no keep-alive, headers sent as given).

import { once } from 'node:events';
import http from 'node:http';

/**
 * An upstream on 127.0.0.1 that answers every request 200 with JSON
 * `{ method, url, headers, rawHeaders }` — what reached it through Envoy. `requests` counts them.
 */
export async function startEchoServer() {
  const server = http.createServer((req, res) => {
    server.requests += 1;
    req.resume();
    req.on('end', () => {
      const body = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, rawHeaders: req.rawHeaders });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    });
  });
  server.requests = 0;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  server.port = server.address().port;
  server.stop = () => new Promise((resolve) => server.close(resolve));
  return server;
}

/** One request; resolves `{ status, headers, body }` (body as a string). */
export function request(port, { method = 'GET', path = '/', headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.setTimeout(5000, () => req.destroy(new Error(`request to :${port}${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * A document server on 127.0.0.1 (JWKS, OpenID discovery, key stores) that the test changes while
 * Envoy polls it: `docs` maps a path to a JSON value, `hits` lists the paths asked for, and
 * `requests` their URLs and headers, `hang = true` makes it accept requests without ever answering. `stop()` takes it down.
 * A URL with a query is looked up whole, then by its path. A document may be a function
 * `(url, body) => value` that plays an endpoint (introspection, a key service): `undefined`
 * answers 404.
 * `etags` maps a path to the `ETag` its document is served with; a request whose `If-None-Match`
 * names it is answered `304 Not Modified`. `faults` maps a path to what goes wrong there instead:
 * `{ status }` (answered with it), `{ hang: true }` (never answered), `{ bytes }` (a 200 of
 * that many bytes, streamed), `{ reset: true }` (a 200 whose connection drops mid-body),
 * `{ drop: true }` (the connection closed without an answer) or `{ body }` (a 200 of that text).
 */
export async function startDocumentServer(docs = {}) {
  const server = http.createServer((req, res) => {
    server.hits.push(req.url);
    server.requests.push({ url: req.url, headers: req.headers });
    const path = req.url.split('?')[0];
    const fault = server.faults[req.url] ?? server.faults[path];
    if (server.hang || fault?.hang) return;
    if (fault?.drop) return req.socket.destroy();
    if (fault?.status) return res.writeHead(fault.status).end('failing');
    if (fault?.bytes) return streamBytes(res, fault.bytes);
    if (fault?.body !== undefined) return res.writeHead(200, { 'content-type': 'application/json' }).end(fault.body);
    if (fault?.reset) {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': 1000 });
      return res.write('{"keys":[', () => res.destroy());
    }
    const doc = server.docs[req.url] ?? server.docs[path];
    if (typeof doc === 'function') {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const value = doc(req.url, body);
        if (value === undefined) res.writeHead(404).end();
        else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(value));
      });
      return;
    }
    const etag = server.etags[req.url];
    if (doc === undefined) res.writeHead(404).end();
    else if (etag !== undefined && req.headers['if-none-match'] === etag) res.writeHead(304, { etag }).end();
    else res.writeHead(200, { 'content-type': 'application/json', ...(etag && { etag }) }).end(JSON.stringify(doc));
  });
  Object.assign(server, { docs, etags: {}, faults: {}, hits: [], requests: [], hang: false });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  server.port = server.address().port;
  server.count = (path) => server.hits.filter((h) => h === path).length;
  server.stop = () => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  };
  return server;
}

/** A 200 of `total` bytes of JSON-looking filler, written in 1 MiB chunks as the reader takes them. */
function streamBytes(res, total) {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': total });
  const chunk = Buffer.alloc(1 << 20, 0x20);
  let left = total;
  const write = () => {
    while (left > 0) {
      const part = chunk.subarray(0, Math.min(chunk.length, left));
      left -= part.length;
      if (!res.write(part)) return res.once('drain', write);
    }
    res.end();
  };
  res.on('error', () => {});
  write();
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Repeats `fn` until it returns a truthy value or `ms` pass; returns the last value. */
export async function eventually(fn, ms = 4000, every = 100) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await fn();
    if (value || Date.now() > deadline) return value;
    await sleep(every);
  }
}

/** The stable error code of a refusal's JSON body (`simple` style), or undefined. */
export function errorCode(res) {
  try {
    return JSON.parse(res.body).error?.code;
  } catch {
    return undefined;
  }
}

/** `Authorization: Bearer <credential>` (plus `extra` headers). */
export const bearer = (credential, extra = {}) => ({ authorization: `Bearer ${credential}`, ...extra });
