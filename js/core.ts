/**
 * The wasm exports the TypeScript layer calls. An entry point (browser, node, workerd)
 * instantiates its build and hands it to `setCore`; everything else reaches it through `core()`.
 */
import type * as BrowserBuild from './wasm/browser/tokenwarden.js';
import type * as FullBuild from './wasm/full/tokenwarden.js';
import { fromCore } from './errors.js';
import { credentialsOf } from './http.js';

export type BrowserCore = Omit<typeof BrowserBuild, 'default' | 'initSync'>;
export type FullCore = Omit<typeof FullBuild, 'default' | 'initSync'>;

let browser: BrowserCore | undefined;
let full: FullCore | undefined;

export function setCore(build: BrowserCore, isFull: boolean): void {
  browser = build;
  full = isFull ? (build as FullCore) : undefined;
}

export function core(): BrowserCore {
  if (!browser) throw new Error('tokenwarden: the wasm core is not initialised');
  return browser;
}

/** The full build; server helpers are not part of the browser build. */
export function fullCore(): FullCore {
  if (!full) throw new Error('tokenwarden: this helper needs the server build (Node or workerd)');
  return full;
}

/**
 * Runs a wasm export, turning what it throws into a typed error. `answering`: the request (the
 * core's JSON) whose answer the export reads; its credentials and `also` are redacted from what
 * the provider's error says.
 */
export function call<T>(fn: () => T, answering?: string, also?: string[]): T {
  try {
    return fn();
  } catch (thrown) {
    throw fromCore(thrown, answering === undefined ? [] : credentialsOf(answering, also));
  }
}

/** The host clock in unix seconds (the core never reads a clock). */
export function nowSecs(): number {
  return Math.floor(Date.now() / 1000);
}

/** A uniform random u32 for the core's backoff jitter. */
export function jitter(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0]!;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
