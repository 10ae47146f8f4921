// Runs inside workerd: the package's workerd entry (wasm imported as a module, initSync) doing
// JWT and webhook verification. Fixtures (jose-minted tokens, JWKS, signed bodies) come from
// run.mjs through a text binding.
import { verifyJwt, verifyWebhook, signWebhook, TokenwardenError } from 'tokenwarden';
// The package's WebCrypto half (not a package export: reached by path, the same module instance).
import { importNativeKey, verifyNativeSignature } from '../../pkg/dist/native-crypto.js';

function check(ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`);
}

async function refused(promiseOrFn, code) {
  try {
    await (typeof promiseOrFn === 'function' ? promiseOrFn() : promiseOrFn);
  } catch (e) {
    check(e instanceof TokenwardenError && e.code === code, `expected ${code}, got ${e.code ?? e}`);
    return;
  }
  throw new Error(`expected a refusal with ${code}`);
}

export const jwt = {
  async test(_ctrl, env) {
    const f = JSON.parse(env.FIXTURES);
    for (const [alg, token] of Object.entries(f.tokens)) {
      const opts = { jwks: f.jwks[alg], issuer: f.issuer, audience: f.audience, algorithms: [alg] };
      const claims = await verifyJwt(token, opts);
      check(claims.sub === 'user_123', `${alg} sub`);
      const [h, , s] = token.split('.');
      await refused(verifyJwt(`${h}.${f.forgedPayload}.${s}`, opts), 'invalid_signature');
      await refused(verifyJwt(token, { ...opts, audience: 'https://other.example' }), 'invalid_audience');
    }
  },
};

export const quickstart = {
  async test(_ctrl, env) {
    const f = JSON.parse(env.FIXTURES);
    const call = (auth) => env.QUICKSTART.fetch('http://worker/', { headers: auth ? { Authorization: auth } : {} });
    const ok = await call(`Bearer ${f.tokens.RS256}`);
    check(ok.status === 200 && (await ok.json()).hello === 'user_123', 'the README Worker accepts a valid token');
    const missing = await call();
    check(missing.status === 401 && (await missing.json()).error === 'malformed_token', 'the README Worker refuses a missing token');
  },
};

export const webhook = {
  async test(_ctrl, env) {
    const f = JSON.parse(env.FIXTURES);
    verifyWebhook(f.webhook.body, f.webhook.signature, f.webhook.secret);
    check(signWebhook(f.webhook.body, f.webhook.secret) === f.webhook.signature, 'signWebhook agrees with Node HMAC');
    await refused(() => verifyWebhook(f.webhook.body, f.webhook.signature, 'another-secret'), 'invalid_webhook_signature');
    const now = Math.floor(Date.now() / 1000);
    const stale = signWebhook(f.webhook.body, f.webhook.secret, { timestamp: now - 3600 });
    await refused(() => verifyWebhook(f.webhook.body, stale, f.webhook.secret, { timestamp: String(now - 3600), toleranceSec: 300 }), 'webhook_timestamp_out_of_tolerance');
  },
};

/** Wycheproof's cases (tests/js/wycheproof-cases.mjs) through WebCrypto in workerd, with the core's parameters. */
export const wycheproof = {
  async test(_ctrl, env) {
    const bytes = (hex) => Uint8Array.from(hex.match(/../g) ?? [], (h) => parseInt(h, 16));
    const wrong = [];
    let cases = 0;
    for (const [file, { alg, groups }] of Object.entries(JSON.parse(env.WYCHEPROOF))) {
      for (const group of groups) {
        const key = await importNativeKey(alg, group.jwk);
        check(key, `${file}: WebCrypto refused a key the core takes`);
        for (const t of group.tests) {
          const verdict = await verifyNativeSignature(alg, key, bytes(t.sig), bytes(t.msg));
          cases += 1;
          if (verdict !== t.expected) wrong.push(`${file} tc ${t.id}: WebCrypto said ${verdict}, the core says ${t.expected}`);
        }
      }
    }
    check(wrong.length === 0, `WebCrypto in workerd disagrees with the core:\n${wrong.join('\n')}`);
    check(cases > 1000, `only ${cases} cases ran`);
  },
};
