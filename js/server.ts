/** Everything the package offers; the Node and workerd entries export this after loading the full build. */
export * from './errors.js';
export { AuthClient, type AuthClientConfig, type AuthEvent, type CredentialLogin, type Endpoints, type EndSessionOptions, type FetchOptions, type UserClaims } from './auth-client.js';
export { BackendTokenClient, type BackendTokenClientConfig, type TokenSource } from './backend-token.js';
export { ServiceClient, type ServiceClientConfig } from './service-client.js';
export { ApiKeyClient, type ApiKeyClientConfig, type ApiKeyFetchOptions } from './api-key-client.js';
export { WebClient, type WebClientConfig, type TokenSet } from './web-client.js';
export type { ClientAuthMethod, ClientCredentials } from './confidential.js';
export { mintScopedToken, type MintScopedTokenOptions, type ScopedTokenGrant } from './scoped-token.js';
export { verifyJwt, generateSigningKey, publicJwk, signJwt, type VerifyOptions, type JwtClaims, type JwtAlgorithm } from './jwt.js';
export { parseApiKey, requirePublishableKey, hashApiKey, generateApiKey, type ParsedApiKey } from './apikey.js';
export { verifyWebhook, signWebhook, type WebhookOptions } from './webhook.js';
export { MemoryStorage, type StorageAdapter, type StoragePolicy } from './storage.js';
