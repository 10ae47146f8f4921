/**
 * Webhook signatures: `sha256=<hex>` HMAC-SHA256 over the raw body, or over
 * `"{timestamp}.{body}"` with the timestamp sent in its own header, checked within a tolerance.
 */
import { call, fullCore, nowSecs } from './core.js';

type Bytes = string | Uint8Array;
const bytes = (b: Bytes): Uint8Array => (typeof b === 'string' ? new TextEncoder().encode(b) : b);

export interface WebhookOptions {
  /** The timestamp header's value; when given, the signature covers `"{timestamp}.{body}"`. */
  timestamp?: string;
  /** Replay window either side of now, seconds (default 300). */
  toleranceSec?: number;
  now?: number;
}

/** Throws a `TokenwardenError` (`invalid_webhook_signature`, `webhook_timestamp_out_of_tolerance`) unless the signature holds. */
export function verifyWebhook(rawBody: Bytes, signatureHeader: string, secret: Bytes, options: WebhookOptions = {}): void {
  call(() =>
    fullCore().verifyWebhook(signatureHeader, bytes(rawBody), bytes(secret), options.timestamp, options.toleranceSec ?? 300, options.now ?? nowSecs()),
  );
}

/** The signature header value for a body (and timestamp, for the timestamped form). */
export function signWebhook(rawBody: Bytes, secret: Bytes, options: { timestamp?: number } = {}): string {
  return call(() => fullCore().signWebhook(bytes(secret), bytes(rawBody), options.timestamp));
}
