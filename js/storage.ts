/**
 * Where a session's tokens and the sign-in transaction are kept. Values are opaque strings;
 * a write replaces the whole value, so a rotated refresh token and its access token are
 * stored together or not at all.
 */

/**
 * Implement this for platform secure storage (iOS Keychain, Android Keystore through a
 * Capacitor plugin, …). Methods may be synchronous or return promises.
 */
export interface StorageAdapter {
  getItem(key: string): string | null | Promise<string | null>;
  setItem(key: string, value: string): void | Promise<void>;
  removeItem(key: string): void | Promise<void>;
}

/**
 * - `memory` (default): tokens live in this page only (other tabs get them over BroadcastChannel).
 * - `refresh-token`: the refresh token in localStorage, the access token in memory only.
 * - `session` / `local`: all tokens in sessionStorage / localStorage.
 * - a `StorageAdapter`: all tokens in it (mobile secure storage).
 */
export type StoragePolicy = 'memory' | 'refresh-token' | 'session' | 'local' | StorageAdapter;

export class MemoryStorage implements StorageAdapter {
  private readonly items = new Map<string, string>();
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.items.set(key, value);
  }
  removeItem(key: string): void {
    this.items.delete(key);
  }
}

/** `window.sessionStorage` or `localStorage` when the page may use them, else undefined. */
export function webStorage(kind: 'session' | 'local'): StorageAdapter | undefined {
  try {
    const s = kind === 'session' ? globalThis.sessionStorage : globalThis.localStorage;
    return s ?? undefined;
  } catch {
    return undefined;
  }
}
