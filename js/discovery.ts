/** A provider's metadata: what the clients read of its discovery document. */
import { call, core } from './core.js';
import { getDocument, type Fetch } from './http.js';

/** The members the clients use (OpenID Connect Discovery and RFC 8414 names). */
export interface ProviderMetadata {
  issuer?: string;
  authorization_endpoint?: string;
  token_endpoint?: string;
  pushed_authorization_request_endpoint?: string | null;
  revocation_endpoint?: string | null;
  userinfo_endpoint?: string | null;
  end_session_endpoint?: string | null;
  authorization_response_iss_parameter_supported?: boolean;
  require_pushed_authorization_requests?: boolean;
}

/**
 * The issuer's discovery document (its path kept, as the core derives the URL), checked by the
 * core against the issuer; no issuer, no document: the caller's own endpoints are all there is.
 */
export async function discoverMetadata(fetchImpl: Fetch, issuer: string | undefined): Promise<ProviderMetadata> {
  if (!issuer) return {};
  const res = await getDocument(fetchImpl, call(() => core().discoveryUrl(issuer)));
  return JSON.parse(call(() => core().parseDiscovery(res.status, res.body, issuer))) as ProviderMetadata;
}
