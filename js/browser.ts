/**
 * The browser and mobile-webview entry: the small wasm build (sign-in, session, key parsing;
 * no signature verification), fetched next to this module and instantiated on import.
 */
import init, * as wasm from './wasm/browser/tokenwarden.js';
import { setCore } from './core.js';
import { requirePublishableKey, type ParsedApiKey } from './apikey.js';

await init();
setCore(wasm, false);

export * from './errors.js';
export { AuthClient, type AuthClientConfig, type AuthEvent, type CredentialLogin, type Endpoints, type EndSessionOptions, type FetchOptions, type UserClaims } from './auth-client.js';
export { BackendTokenClient, type BackendTokenClientConfig, type TokenSource } from './backend-token.js';
export { MemoryStorage, type StorageAdapter, type StoragePolicy } from './storage.js';
export { requirePublishableKey, type ParsedApiKey };

/** In a browser only publishable keys are accepted: `sk_`/`rk_` keys throw a `ConfigError`. */
export function parseApiKey(key: string): ParsedApiKey {
  return requirePublishableKey(key);
}
