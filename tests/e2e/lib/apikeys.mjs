// API keys and key stores in the documented formats (docs/configuration.md, "API keys"), made
// here with node:crypto and zlib — independently of the core, so a drift in either is caught:
// `<prefix><32 base62 random><6 base62 CRC32 of prefix+random, most significant digit first>`,
// and a store `{"version": 1, "keys": [...]}` holding only each key's SHA-256.

import { createHash, randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function randomBase62(n) {
  let out = '';
  while (out.length < n) {
    for (const b of randomBytes(n)) {
      // Rejection sampling, as the core does: uniform over the 62 digits.
      if (b < 248 && out.length < n) out += BASE62[b % 62];
    }
  }
  return out;
}

/** Six base62 digits of the CRC32 of `text`. */
export function checksum(text) {
  let value = crc32(Buffer.from(text));
  let digits = '';
  for (let i = 0; i < 6; i++) {
    digits = BASE62[value % 62] + digits;
    value = Math.floor(value / 62);
  }
  return digits;
}

/** A well-formed key under `prefix` (the random part can be given, for fixed test keys). */
export function mintKey(prefix, random = randomBase62(32)) {
  return `${prefix}${random}${checksum(prefix + random)}`;
}

let counter = 0;

/**
 * A key and its store record. `prefix` defaults to `<type>_<env>_`; `record` overrides or adds
 * record fields (permissions, datasets, roles, allowed_ips, rate_limit, expires_at, revoked...).
 */
export function apiKey({ type = 'sk', env = 'live', prefix = `${type}_${env}_`, name, ...record } = {}) {
  const key = mintKey(prefix);
  counter += 1;
  const id = `key_e2e${String(counter).padStart(4, '0')}${randomBase62(5)}`;
  return {
    key,
    id,
    record: {
      id,
      name: name ?? `e2e ${type} ${env} ${counter}`,
      type,
      env,
      display_prefix: key.slice(0, prefix.length + 4),
      hash: `sha256:${createHash('sha256').update(key).digest('hex')}`,
      created_at: Math.floor(Date.now() / 1000) - 60,
      ...record,
    },
  };
}

/** The key store document for some `apiKey()` results. */
export const keyStore = (...keys) => ({ version: 1, keys: keys.map((k) => k.record) });
