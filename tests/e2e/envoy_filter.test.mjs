// The tokenwarden filter in a real Envoy: verifies tokens from an inline JWKS and forwards the
// identity, introspects opaque tokens through a cluster, refuses a request without a credential
// in each error style, shares rate limits through shared data, and refuses a bad configuration
// with one log line naming the field.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { bootstrap, cleanup, FILTER_WASM, freePort, REPO, startEnvoy } from './lib/envoy.mjs';
import { request, startEchoServer } from './lib/http.mjs';
import { es256Issuer } from './lib/jwt.mjs';

const idp = es256Issuer();
const AUD = 'https://api.e2e.test';
/** The gateway configuration with one provider (inline JWKS), plus `extra` fields. */
const gatewayConfig = (extra = {}) => ({
  providers: [{ name: 'idp', issuer: idp.issuer, audiences: [AUD], algorithms: ['ES256'], jwks: { inline: idp.jwks } }],
  ...extra,
});

let upstream;
before(async () => {
  upstream = await startEchoServer();
});
after(async () => {
  await upstream?.stop();
});

/** Starts Envoy with the filter configured by `pluginConfig`; the caller stops it. */
async function envoyWith(pluginConfig, options = {}) {
  const [listenerPort, adminPort] = [await freePort(), await freePort()];
  const config = bootstrap({ listenerPort, adminPort, upstreamPort: upstream.port, pluginConfig });
  return startEnvoy({ config, listenerPort, adminPort, ...options });
}

describe('with a valid configuration', () => {
  let envoy;
  before(async () => {
    envoy = await envoyWith(gatewayConfig({ realm: 'e2e' }));
  });
  after(async () => {
    await envoy?.stop();
    await cleanup(envoy?.dir);
  });

  test('a valid token reaches the upstream with its headers and the verified identity', async () => {
    const before = upstream.requests;
    const token = idp.token({ sub: 'user-42', aud: AUD, scope: 'read:datasets.sales' });
    const res = await request(envoy.listenerPort, {
      path: '/datasets/sales?limit=1',
      // A client must not be able to forge identity headers: these are replaced or removed.
      headers: { authorization: `Bearer ${token}`, 'x-request-tag': 'e2e-a', 'x-auth-sub': 'admin', 'x-auth-key-id': 'forged' },
    });
    assert.equal(res.status, 200, res.body);
    assert.equal(upstream.requests, before + 1);
    const seen = JSON.parse(res.body);
    assert.equal(seen.method, 'GET');
    assert.equal(seen.url, '/datasets/sales?limit=1');
    assert.equal(seen.headers.authorization, `Bearer ${token}`);
    assert.equal(seen.headers['x-request-tag'], 'e2e-a');
    assert.equal(seen.headers['x-auth-sub'], 'user-42');
    assert.equal(seen.headers['x-auth-scopes'], 'read:datasets.sales');
    assert.equal(seen.headers['x-auth-issuer'], idp.issuer);
    assert.equal(seen.headers['x-auth-key-id'], undefined);
  });

  test('an expired, a tampered and a wrong-audience token are refused before the upstream', async () => {
    const before = upstream.requests;
    const past = Math.floor(Date.now() / 1000) - 7200;
    const good = idp.token({ sub: 'u', aud: AUD });
    const cases = {
      expired_token: idp.token({ sub: 'u', aud: AUD, iat: past, exp: past + 60 }),
      invalid_signature: `${good.slice(0, -4)}${good.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`,
      invalid_audience: idp.token({ sub: 'u', aud: 'https://other.test' }),
    };
    for (const [code, token] of Object.entries(cases)) {
      const res = await request(envoy.listenerPort, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 401, `${code}: ${res.body}`);
      assert.equal(JSON.parse(res.body).error.code, code);
      assert.match(res.headers['www-authenticate'], /^Bearer realm="e2e", error="invalid_token", error_description="/);
    }
    assert.equal(upstream.requests, before);
  });

  test('an Authorization header that is not UTF-8 is refused and does not crash the filter', async () => {
    // Node sends latin1: \xff goes on the wire as the single byte 0xff.
    const res = await request(envoy.listenerPort, { headers: { authorization: 'Bearer \xff\xfe' } });
    assert.equal(res.status, 401, res.body);
    // Refused as a bad credential, not as an absent one: the bytes reached the filter.
    assert.equal(JSON.parse(res.body).error.code, 'malformed_token');
    // The filter is still alive for the next request.
    const token = idp.token({ sub: 'u', aud: AUD });
    assert.equal((await request(envoy.listenerPort, { headers: { authorization: `Bearer ${token}` } })).status, 200);
  });

  test('every decision writes one audit line to the Envoy log', async () => {
    await request(envoy.listenerPort, { path: '/audited' });
    const line = await waitForLog(envoy, (l) => l.includes('"path":"/audited"'));
    // Envoy prefixes plugin lines with "wasm log <plugin name> <root_id> <vm_id>:" during a
    // request, and with "<plugin name> <root_id>:" only while configuring.
    assert.match(line, /\[info\]\[wasm\].*wasm log tokenwarden tokenwarden tokenwarden: \{/);
    const event = JSON.parse(line.slice(line.indexOf('{')));
    assert.equal(event.status, 401);
    assert.equal(event.error_code, 'missing_credentials');
    assert.equal(event.decision, 'deny');
    assert.equal(event.client_ip, '127.0.0.1');
  });
});

/** Polls Envoy's log (flushed every 100 ms) for a line. */
async function waitForLog(envoy, predicate, timeoutMs = 3000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = (await envoy.log()).split('\n').find(predicate);
    if (line || Date.now() > deadline) return line ?? assert.fail('no such line in the Envoy log');
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('rate limits are enforced (buckets in proxy-wasm shared data): 429 with Retry-After', async () => {
  const envoy = await envoyWith(gatewayConfig({ rate_limits: [{ limit: '2/minute' }] }));
  try {
    const authorization = `Bearer ${idp.token({ sub: 'limited', aud: AUD })}`;
    const statuses = [];
    let last;
    for (let i = 0; i < 3; i++) {
      last = await request(envoy.listenerPort, { headers: { authorization } });
      statuses.push(last.status);
    }
    assert.deepEqual(statuses, [200, 200, 429]);
    assert.equal(JSON.parse(last.body).error.code, 'rate_limited');
    assert.ok(Number(last.headers['retry-after']) > 0, JSON.stringify(last.headers));
    // Another credential has its own bucket.
    const other = `Bearer ${idp.token({ sub: 'other', aud: AUD })}`;
    assert.equal((await request(envoy.listenerPort, { headers: { authorization: other } })).status, 200);
  } finally {
    await envoy.stop();
    await cleanup(envoy.dir);
  }
});

describe('opaque tokens are introspected (RFC 7662) through an Envoy cluster', () => {
  let envoy;
  let endpoint;
  const calls = [];
  before(async () => {
    // A small RFC 7662 endpoint: one active token, everything else inactive.
    endpoint = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        calls.push({ method: req.method, url: req.url, headers: req.headers, body });
        const token = new URLSearchParams(body).get('token');
        const now = Math.floor(Date.now() / 1000);
        const answer =
          token === 'opaque-good'
            ? { active: true, sub: 'svc-7', scope: 'read:reports', client_id: 'reporting', exp: now + 600 }
            : { active: false };
        if (token === 'opaque-hang') return; // never answers: Envoy's call times out
        if (token === 'opaque-outage') res.writeHead(500).end();
        else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
      });
    });
    endpoint.listen(0, '127.0.0.1');
    await once(endpoint, 'listening');
    const [listenerPort, adminPort] = [await freePort(), await freePort()];
    const pluginConfig = gatewayConfig({
      introspection: {
        endpoint: { cluster: 'introspection', authority: 'idp.e2e.test', path: '/oauth/introspect', timeout_ms: 300 },
        client_id: 'gateway',
        client_secret: 'not-in-logs',
      },
    });
    const config = bootstrap({
      listenerPort,
      adminPort,
      upstreamPort: upstream.port,
      pluginConfig,
      clusters: { introspection: endpoint.address().port },
    });
    envoy = await startEnvoy({ config, listenerPort, adminPort });
  });
  after(async () => {
    await envoy?.stop();
    await cleanup(envoy?.dir);
    endpoint?.closeAllConnections();
    endpoint?.close();
  });

  test('an active token reaches the upstream with its identity; the answer is cached', async () => {
    const before = upstream.requests;
    const first = await request(envoy.listenerPort, { headers: { authorization: 'Bearer opaque-good' } });
    assert.equal(first.status, 200, first.body);
    const seen = JSON.parse(first.body);
    assert.equal(seen.headers['x-auth-sub'], 'svc-7');
    assert.equal(seen.headers['x-auth-scopes'], 'read:reports');
    assert.equal(upstream.requests, before + 1);
    assert.equal(calls.length, 1);
    const call = calls[0];
    assert.equal(call.method, 'POST');
    assert.equal(call.url, '/oauth/introspect');
    assert.equal(call.headers.host, 'idp.e2e.test');
    assert.equal(call.headers.authorization, `Basic ${Buffer.from('gateway:not-in-logs').toString('base64')}`);
    assert.equal(new URLSearchParams(call.body).get('token'), 'opaque-good');
    const again = await request(envoy.listenerPort, { headers: { authorization: 'Bearer opaque-good' } });
    assert.equal(again.status, 200);
    assert.equal(calls.length, 1, 'the second request is answered from the cache');
  });

  test('an inactive token is refused; an endpoint error or timeout fails closed', async () => {
    const before = upstream.requests;
    const inactive = await request(envoy.listenerPort, { headers: { authorization: 'Bearer opaque-revoked' } });
    assert.equal(inactive.status, 401, inactive.body);
    assert.equal(JSON.parse(inactive.body).error.code, 'inactive_token');
    const outage = await request(envoy.listenerPort, { headers: { authorization: 'Bearer opaque-outage' } });
    assert.equal(outage.status, 503, outage.body);
    assert.equal(JSON.parse(outage.body).error.code, 'keys_unavailable');
    const hang = await request(envoy.listenerPort, { headers: { authorization: 'Bearer opaque-hang' } });
    assert.equal(hang.status, 503, hang.body);
    assert.equal(upstream.requests, before);
    assert.ok(!(await envoy.log()).includes('not-in-logs'), 'the client secret must not reach the log');
  });
});

describe('a request without credentials gets 401 in the configured error style', () => {
  const cases = {
    simple: '{"error":{"code":"missing_credentials","message":"No credentials were provided"}}',
    error_list:
      '{"errors":[{"attr":null,"code":"missing_credentials","detail":"No credentials were provided","extra":null}],"type":"client_error"}',
    typed:
      '{"error":{"code":"missing_credentials","message":"No credentials were provided","type":"authentication_error"}}',
  };
  for (const [style, body] of Object.entries(cases)) {
    test(style, async () => {
      const realm = `realm-${style}`;
      const envoy = await envoyWith(gatewayConfig({ realm, error_style: style }));
      try {
        const before = upstream.requests;
        const res = await request(envoy.listenerPort, { method: 'POST', path: '/orders' });
        assert.equal(res.status, 401);
        assert.equal(res.body, body);
        assert.equal(res.headers['content-type'], 'application/json');
        assert.equal(res.headers['www-authenticate'], `Bearer realm="${realm}"`);
        assert.equal(upstream.requests, before, 'a refused request must not reach the upstream');
      } finally {
        await envoy.stop();
        await cleanup(envoy.dir);
      }
    });
  }
});

describe('a bad configuration stops the plugin with one readable log line', () => {
  const cases = [
    {
      name: 'an unknown error_style',
      pluginConfig: gatewayConfig({ error_style: 'nope' }),
      line: 'invalid plugin configuration: error_style: expected one of `simple`, `error_list`, `typed` (line 1 column ',
    },
    {
      name: 'invalid JSON',
      pluginConfig: '{"realm": "e2e",',
      line: 'invalid plugin configuration: invalid JSON at line 1 column 16',
    },
    {
      // (A provider without an issuer is valid since the platform work: one without keys is not.)
      name: 'a provider without keys',
      pluginConfig: { providers: [{ name: 'idp', issuer: idp.issuer }] },
      line: 'invalid plugin configuration: providers[0]: missing field `jwks`',
    },
    {
      name: 'nothing to authenticate with',
      pluginConfig: { realm: 'e2e' },
      line: 'invalid plugin configuration: providers/api_keys',
    },
  ];
  for (const { name, pluginConfig, line } of cases) {
    test(name, async () => {
      const envoy = await envoyWith(pluginConfig, { expectExit: true });
      try {
        // A static listener whose plugin fails on_configure makes Envoy exit at start.
        assert.notEqual(envoy.result.code, 0, 'Envoy must not start with a bad plugin configuration');
        const log = await envoy.log();
        const ours = log.split('\n').filter((l) => l.includes('invalid plugin configuration'));
        assert.equal(ours.length, 1, `expected one line, got:\n${ours.join('\n')}`);
        assert.match(ours[0], /\[error\]\[wasm\].*wasm log tokenwarden tokenwarden: /);
        assert.ok(ours[0].includes(line), ours[0]);
        assert.match(log, /Plugin tokenwarden failed to load/);
      } finally {
        await cleanup(envoy.dir);
      }
    });
  }
});

test('filters/envoy/examples/envoy.yaml runs as written (ports and .wasm path substituted)', async () => {
  const example = await readFile(path.join(REPO, 'filters/envoy/examples/envoy.yaml'), 'utf8');
  const [listenerPort, adminPort] = [await freePort(), await freePort()];
  const substitute = (text, from, to) => {
    assert.equal(text.split(from).length, 2, `the example should contain ${from} exactly once`);
    return text.replace(from, to);
  };
  let yaml = example;
  yaml = substitute(yaml, 'port_value: 9901', `port_value: ${adminPort}`);
  yaml = substitute(yaml, 'port_value: 10000', `port_value: ${listenerPort}`);
  yaml = substitute(yaml, 'port_value: 8080', `port_value: ${upstream.port}`);
  yaml = substitute(yaml, 'filename: target/wasm32-wasip1/filter/tokenwarden_envoy.wasm', `filename: ${FILTER_WASM}`);
  const envoy = await startEnvoy({ config: yaml, listenerPort, adminPort });
  try {
    const refused = await request(listenerPort);
    assert.equal(refused.status, 401);
    assert.equal(refused.headers['www-authenticate'], 'Bearer realm="example-api"');
    // A token for the example's issuer but not signed by its key is refused, not passed.
    const before = upstream.requests;
    const claims = { iss: 'https://idp.example.com', aud: 'https://api.example.com', sub: 'u' };
    const forged = await request(listenerPort, { headers: { authorization: `Bearer ${idp.token(claims)}` } });
    assert.equal(forged.status, 401, forged.body);
    assert.equal(upstream.requests, before);
  } finally {
    await envoy.stop();
    await cleanup(envoy.dir);
  }
});
