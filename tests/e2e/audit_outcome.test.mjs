// The audit line of a forwarded request carries what the client got: the origin's status and
// the milliseconds from the request's arrival to the origin's answer, on Envoy and the Worker
// alike (GoPie's audit log, shared/reference 000: `response_code`, `response_time_ms`). The
// origin here answers 418 after 150 ms, or never for /gone (the client hangs up).
//
// Needs `make filter` and `make worker`.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import { after, before, test } from 'node:test';

import { startHosts } from './lib/hosts.mjs';
import { request, sleep } from './lib/http.mjs';

const DELAY_MS = 150;
let origin;
let started;

before(async () => {
  origin = http.createServer((req, res) => {
    if (req.url.startsWith('/gone')) return; // never answers
    setTimeout(() => res.writeHead(418, { 'content-type': 'text/plain' }).end('teapot'), DELAY_MS);
  });
  origin.listen(0, '127.0.0.1');
  await once(origin, 'listening');
  const gatewayConfig = {
    api_keys: { store: { inline: { version: 1, keys: [] } } },
    policy: { unmatched: 'deny', rules: [{ name: 'open', path: '/{rest*}', anonymous: true }] },
    audit_sample_rate: 1.0,
  };
  started = await startHosts({ gatewayConfig, originPort: origin.address().port });
});
after(async () => {
  await started?.stop();
  origin?.closeAllConnections();
  origin?.close();
});

/** The audit event of `path` in a host's output, once it is written. */
async function auditLine(lines, path) {
  for (let i = 0; i < 60; i += 1) {
    const line = (await lines()).find((l) => l.includes(`"path":"${path}"`));
    if (line) return JSON.parse(line.slice(line.indexOf('{')));
    await sleep(50);
  }
  return assert.fail(`no audit line for ${path}`);
}

for (const host of ['envoy', 'worker']) {
  const lines = async () => (host === 'envoy' ? (await started.envoy.log()).split('\n') : started.worker.lines());

  test(`${host}: a forwarded request's line has the origin's status and its latency`, async () => {
    const path = `/teapot-${host}`;
    const res = await request(started.hosts[host], { path });
    assert.equal(res.status, 418);
    const event = await auditLine(lines, path);
    assert.equal(event.decision, 'allow');
    assert.equal(event.status, 418, 'the origin status, not the gateway 200');
    assert.ok(event.latency_ms >= DELAY_MS - 5 && event.latency_ms < 5000, `latency_ms ${event.latency_ms}`);
  });

  // The Worker writes a forwarded request's line once the origin answers (ctx.waitUntil keeps
  // it alive past the client); an origin that never answers leaves no line within the test.
  if (host === 'worker') continue;
  test(`${host}: a request the client abandons before the origin answers still has its line`, async () => {
    await new Promise((resolve) => {
      const req = http.request({ host: '127.0.0.1', port: started.hosts[host], path: '/gone', agent: false });
      req.on('error', resolve);
      req.setTimeout(300, () => req.destroy(new Error('abandoned')));
      req.end();
    });
    const event = await auditLine(lines, '/gone');
    assert.equal(event.decision, 'allow');
    assert.ok(event.status === 0 || event.status >= 500, `status ${event.status}: no answer from the origin`);
  });
}
