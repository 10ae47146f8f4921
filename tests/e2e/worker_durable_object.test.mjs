// Global rate limits for a fleet of Worker isolates through the RateLimiter Durable Object, in a
// real workerd: two Worker services (two isolates, like two edge locations) share one bucket
// through the object, while two others without the binding keep per-isolate buckets. Also runs
// the object's own compare-and-swap tests with `workerd test`.

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { cleanup, freePort, REPO, tempDir } from './lib/envoy.mjs';
import { request, startEchoServer } from './lib/http.mjs';
import { es256Issuer } from './lib/jwt.mjs';
import { serveWorkerd, testWorkerd, workerModules } from './lib/workerd.mjs';

const AUD = 'https://api.e2e.test';
const idp = es256Issuer();
const gatewayConfig = {
  providers: [{ name: 'idp', issuer: idp.issuer, audiences: [AUD], algorithms: ['ES256'], jwks: { inline: idp.jwks } }],
  rate_limits: [{ limit: '3/minute' }],
};
const bearer = (sub) => ({ authorization: `Bearer ${idp.token({ sub, aud: AUD })}` });

test('the RateLimiter object commits only decisions whose buckets did not change (workerd test)', async () => {
  const dir = await tempDir('workerd-unit-');
  try {
    const capnp = path.join(dir, 'config.capnp');
    const modules = workerModules(dir, path.join(REPO, 'tests/e2e/workerd/rate_limiter_unit.mjs'));
    await writeFile(
      capnp,
      `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (services = [(name = "main", worker = .worker)]);
const worker :Workerd.Worker = (
  modules = [${modules.join(', ')}],
  compatibilityDate = "2025-11-01",
  compatibilityFlags = ["nodejs_compat"],
  bindings = [(name = "RATE_LIMITER", durableObjectNamespace = "RateLimiter")],
  durableObjectNamespaces = [(className = "RateLimiter", uniqueKey = "unit")],
  durableObjectStorage = (inMemory = void),
);
`,
    );
    const { code, output } = await testWorkerd(capnp);
    assert.equal(code, 0, output);
    assert.match(output, /\[ PASS \] main:commits/);
    assert.match(output, /\[ PASS \] main:oneObjectPerName/);
    assert.match(output, /\[ PASS \] main:longKeysAreRefused/);
    assert.match(output, /\[ PASS \] main:sweepDropsOnlyIdleBuckets/);
  } finally {
    await cleanup(dir);
  }
});

describe('two isolates with the Durable Object share buckets; two without it do not', () => {
  let origin;
  let workerd;
  let dir;
  const ports = {};
  before(async () => {
    origin = await startEchoServer();
    dir = await tempDir('workerd-fleet-');
    await writeFile(path.join(dir, 'gateway.json'), JSON.stringify(gatewayConfig));
    for (const name of ['a', 'b', 'c', 'd']) ports[name] = await freePort();
    const modules = workerModules(dir).join(',\n      ');
    const edge = (name, shared) => `(name = "edge-${name}", worker = (
    modules = [
      ${modules}
    ],
    compatibilityDate = "2025-11-01",
    bindings = [
      (name = "TOKENWARDEN_CONFIG", text = embed "gateway.json"),
      (name = "ORIGIN", text = "http://127.0.0.1:${origin.port}"),
      ${shared ? '(name = "RATE_LIMITER", durableObjectNamespace = (className = "RateLimiter", serviceName = "edge-a")),' : ''}
    ],
    ${name === 'a' ? 'durableObjectNamespaces = [(className = "RateLimiter", uniqueKey = "fleet")], durableObjectStorage = (inMemory = void),' : ''}
    globalOutbound = "internet",
  ))`;
    const capnp = path.join(dir, 'config.capnp');
    await writeFile(
      capnp,
      `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    ${edge('a', true)},
    ${edge('b', true)},
    ${edge('c', false)},
    ${edge('d', false)},
    (name = "internet", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [
    ${Object.entries(ports).map(([n, p]) => `(name = "${n}", address = "127.0.0.1:${p}", http = (), service = "edge-${n}")`).join(',\n    ')}
  ],
);
`,
    );
    workerd = await serveWorkerd({ dir, capnp, port: ports.d });
  });
  after(async () => {
    await workerd?.stop();
    await cleanup(dir);
    await origin?.stop();
  });

  const statuses = async (sequence, headers) => {
    const out = [];
    for (const edge of sequence) out.push((await request(ports[edge], { headers })).status);
    return out;
  };

  test('a credential limited to 3/minute gets 3 requests across both isolates, not 3 per isolate', async () => {
    const headers = bearer('fleet-user');
    assert.deepEqual(await statuses(['a', 'a', 'b', 'b', 'a'], headers), [200, 200, 200, 429, 429]);
  });

  test('without the object each isolate counts alone (the default)', async () => {
    const headers = bearer('local-user');
    assert.deepEqual(await statuses(['c', 'c', 'c', 'd', 'd', 'd', 'c'], headers), [200, 200, 200, 200, 200, 200, 429]);
  });

  test('concurrent requests on both isolates never pass more than the limit', async () => {
    const headers = bearer('racing-user');
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => request(ports[i % 2 ? 'a' : 'b'], { headers })));
    const passed = answers.filter((r) => r.status === 200).length;
    assert.ok(passed >= 1 && passed <= 3, `passed ${passed} of 12`);
    assert.ok(answers.every((r) => r.status === 200 || r.status === 429), answers.map((r) => r.status).join(' '));
    assert.equal((await request(ports.a, { headers })).status, 429);
  });
});
