// API-key and webhook helpers of the server build.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { parseApiKey, requirePublishableKey, hashApiKey, generateApiKey, verifyWebhook, signWebhook, ConfigError, TokenwardenError } from 'tokenwarden';

test('generated keys parse, hash to the store form, and a typo is caught by the checksum', () => {
  const { key, display_prefix } = generateApiKey('sk', 'live');
  assert.match(key, /^sk_live_[0-9A-Za-z]{38}$/);
  assert.deepEqual(parseApiKey(key), { type: 'sk', environment: 'live', prefix: 'sk_live_', display_prefix });
  assert.match(hashApiKey(key), /^sha256:[0-9a-f]{64}$/);
  assert.notEqual(hashApiKey(key), hashApiKey(generateApiKey('sk', 'live').key));
  const typo = key.slice(0, 20) + (key[20] === 'a' ? 'b' : 'a') + key.slice(21);
  assert.throws(() => parseApiKey(typo), { code: 'invalid_api_key' });
  assert.throws(() => generateApiKey('xk', 'live'), ConfigError);
});

test('only pk_ keys pass where users can read the code', () => {
  const pk = generateApiKey('pk', 'test').key;
  assert.equal(requirePublishableKey(pk).type, 'pk');
  for (const type of ['sk', 'rk']) {
    const key = generateApiKey(type, 'live').key;
    const err = (() => { try { requirePublishableKey(key); } catch (e) { return e; } })();
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, /server/);
    assert.ok(!err.message.includes(key), 'the error does not echo the key');
  }
});

test('webhook signatures: Node HMAC agrees, wrong secret and body are refused', () => {
  const body = '{"event":"key.created"}';
  const sig = signWebhook(body, 'whsec_0123456789');
  assert.equal(sig, `sha256=${createHmac('sha256', 'whsec_0123456789').update(body).digest('hex')}`);
  verifyWebhook(body, sig, 'whsec_0123456789');
  verifyWebhook(new TextEncoder().encode(body), `sha256=${'0'.repeat(64)}, ${sig}`, 'whsec_0123456789');
  assert.throws(() => verifyWebhook(body, sig, 'whsec_other'), { code: 'invalid_webhook_signature' });
  assert.throws(() => verifyWebhook(body + ' ', sig, 'whsec_0123456789'), { code: 'invalid_webhook_signature' });
  assert.throws(() => verifyWebhook(body, 'md5=abc', 'whsec_0123456789'), TokenwardenError);
});

test('timestamped webhooks are refused outside the tolerance', () => {
  const body = '{"event":"ping"}';
  const now = Math.floor(Date.now() / 1000);
  const sig = signWebhook(body, 's3cret', { timestamp: now - 100 });
  verifyWebhook(body, sig, 's3cret', { timestamp: String(now - 100), toleranceSec: 300 });
  assert.throws(() => verifyWebhook(body, sig, 's3cret', { timestamp: String(now - 100), toleranceSec: 60 }), { code: 'webhook_timestamp_out_of_tolerance' });
  assert.throws(() => verifyWebhook(body, sig, 's3cret', { timestamp: String(now - 99) }), { code: 'invalid_webhook_signature' });
});
