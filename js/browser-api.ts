/**
 * What the browser entries export: the same API whichever way the browser core runs (wasm in
 * `browser.ts`, JavaScript converted by wasm2js in `no-wasm.ts`).
 */
import { requirePublishableKey, type ParsedApiKey } from './apikey.js';

export * from './errors.js';
export { AuthClient, type AuthClientConfig, type AuthEvent, type CredentialLogin, type Endpoints, type EndSessionOptions, type FetchOptions, type UserClaims } from './auth-client.js';
export { BackendTokenClient, type BackendTokenClientConfig, type TokenSource } from './backend-token.js';
export { MemoryStorage, type StorageAdapter, type StoragePolicy } from './storage.js';
export { requirePublishableKey, type ParsedApiKey };

/** In a browser only publishable keys are accepted: `sk_`/`rk_` keys throw a `ConfigError`. */
export function parseApiKey(key: string): ParsedApiKey {
  return requirePublishableKey(key);
}
