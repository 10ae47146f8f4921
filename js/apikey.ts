/** API keys: `<sk|pk|rk>_<live|test>_<32 base62><6 base62 checksum>`. */
import { call, core, fullCore } from './core.js';

export interface ParsedApiKey {
  type: 'sk' | 'pk' | 'rk';
  environment: 'live' | 'test';
  prefix: string;
  /** The prefix and 4 characters: enough to tell keys apart in a listing. */
  display_prefix: string;
}

/** Checks a key's format and checksum (no store lookup). */
export function parseApiKey(key: string): ParsedApiKey {
  return JSON.parse(call(() => core().parseApiKey(key))) as ParsedApiKey;
}

/** For code users can read: only `pk_` keys pass; `sk_`/`rk_` keys throw a `ConfigError`. */
export function requirePublishableKey(key: string): ParsedApiKey {
  return JSON.parse(call(() => core().requirePublishableKey(key))) as ParsedApiKey;
}

/** `sha256:<hex>`, what a key store keeps instead of the key. Server side. */
export function hashApiKey(key: string): string {
  return fullCore().hashApiKey(key);
}

/** A new key; the returned string is its only copy. Server side. */
export function generateApiKey(type: 'sk' | 'pk' | 'rk', environment: 'live' | 'test' = 'live'): { key: string; display_prefix: string } {
  return JSON.parse(call(() => fullCore().generateApiKey(type, environment))) as { key: string; display_prefix: string };
}
