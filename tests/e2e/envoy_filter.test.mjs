// The tokenwarden filter in a real Envoy: loads, lets credentials through (not verified yet: the
// foundation), refuses a request without one in each error style, and refuses a bad configuration.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { bootstrap, cleanup, FILTER_WASM, freePort, REPO, startEnvoy } from './lib/envoy.mjs';
import { request, startEchoServer } from './lib/http.mjs';

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
    envoy = await envoyWith({ realm: 'e2e', error_style: 'simple' });
  });
  after(async () => {
    await envoy?.stop();
    await cleanup(envoy?.dir);
  });

  test('a request with a bearer token reaches the upstream with its headers', async () => {
    const before = upstream.requests;
    const res = await request(envoy.listenerPort, {
      path: '/datasets/sales?limit=1',
      headers: { authorization: 'Bearer abc.def.ghi', 'x-request-tag': 'e2e-a' },
    });
    assert.equal(res.status, 200, res.body);
    assert.equal(upstream.requests, before + 1);
    const seen = JSON.parse(res.body);
    assert.equal(seen.method, 'GET');
    assert.equal(seen.url, '/datasets/sales?limit=1');
    assert.equal(seen.headers.authorization, 'Bearer abc.def.ghi');
    assert.equal(seen.headers['x-request-tag'], 'e2e-a');
  });

  test('an Authorization header that is not UTF-8 does not crash the filter', async () => {
    // Node sends latin1: \xff goes on the wire as the single byte 0xff.
    const res = await request(envoy.listenerPort, { headers: { authorization: 'Bearer \xff\xfe' } });
    assert.equal(res.status, 200, res.body);
    // The filter is still alive for the next request.
    assert.equal((await request(envoy.listenerPort)).status, 401);
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
      const envoy = await envoyWith({ realm, error_style: style });
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
      pluginConfig: { realm: 'e2e', error_style: 'nope' },
      line: 'invalid plugin configuration: field `error_style`: must be one of "simple", "error_list", "typed", found "nope"',
    },
    {
      name: 'invalid JSON',
      pluginConfig: '{"realm": "e2e",',
      line: 'invalid plugin configuration: field `configuration`: is not valid JSON',
    },
    {
      name: 'a missing realm',
      pluginConfig: { error_style: 'typed' },
      line: 'invalid plugin configuration: field `realm`: is required',
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
    const passed = await request(listenerPort, { headers: { authorization: 'Bearer x' } });
    assert.equal(passed.status, 200, passed.body);
  } finally {
    await envoy.stop();
    await cleanup(envoy.dir);
  }
});
