// tokenwarden as a Worker (workerd, Cloudflare-style edges): the same JSON configuration and
// the same decision as the Envoy filter, in front of an origin.
//
// Like the filter, this is a thin host over the core's gateway (src/wasm/gateway.rs): it
// gathers the request facts, performs the fetches and calls (introspection, key lookups) the
// gateway asks for, verifies the RSA and ECDSA signatures it hands over with WebCrypto, keeps
// rate-limit state, and carries out the decision. Nothing here decides.
//
// Bindings: TOKENWARDEN_CONFIG (the gateway JSON, text), ORIGIN (the origin's base URL, text),
// optionally RATE_LIMITER (a Durable Object namespace of the RateLimiter class below) for
// rate limits shared by every isolate of the fleet instead of per-isolate buckets, and
// TOKENWARDEN_METRICS (a Workers Analytics Engine dataset) for the filter's counters.

import { DurableObject } from 'cloudflare:workers';

import wasmModule from '../dist/tokenwarden_bg.wasm';
import { bucketIdle, Gateway, initSync, unconfigured, webCrypto } from '../dist/tokenwarden.js';

// workerd hands a `wasm` module over as a compiled WebAssembly.Module.
initSync({ module: wasmModule });

/** Longest Durable Object storage key, in bytes. */
const MAX_STORAGE_KEY = 2048;
/** How often the RateLimiter drops buckets that are full again (while it holds any). */
const SWEEP_EVERY_MS = 10 * 60_000;
/** Buckets read from storage per step of a sweep. */
const SWEEP_BATCH = 1000;
/** Attempts to commit a decision to the shared rate-limit store before failing closed. */
const COMMIT_ATTEMPTS = 5;

/** The isolate's gateway, built once per configuration text. */
let current = null;

/** The configuration's gateway and remote sources, or the refusal of a bad configuration. */
function load(env) {
  const text = env.TOKENWARDEN_CONFIG ?? '';
  if (current?.text === text && current.origin === env.ORIGIN) return current;
  try {
    if (!URL.canParse(env.ORIGIN ?? '')) throw new Error('invalid configuration: ORIGIN: not set or not a URL');
    const gateway = new Gateway(text);
    gateway.useWebCrypto();
    for (const line of gateway.limitations()) console.warn(`tokenwarden: ${line}`);
    current = { text, origin: env.ORIGIN, originBase: new URL(env.ORIGIN).origin, gateway, sources: new Sources(gateway, (names) => count(env, names)) };
  } catch (e) {
    // One line naming the field (the core never quotes the document's values).
    console.error(`tokenwarden: ${e.message}; every request is refused with invalid_config`);
    current = { text, origin: env.ORIGIN, gateway: null };
  }
  return current;
}

/**
 * Adds one to each named counter (the filter's stat names, chosen by the core) in the
 * Analytics Engine dataset, if bound: one data point per counter, the name as index and blob1
 * and 1 as double1, so `SELECT blob1, SUM(_sample_interval * double1) … GROUP BY blob1` reads
 * the same totals as Envoy's /stats. Isolates share no memory, so counters kept here and served
 * from an endpoint would count one isolate only.
 */
function count(env, names) {
  if (!env.TOKENWARDEN_METRICS) return;
  for (const name of names) env.TOKENWARDEN_METRICS.writeDataPoint({ indexes: [name], blobs: [name], doubles: [1] });
}

/** The core's local reply as a Response. */
function respond({ status, headers, body }) {
  return new Response(body, { status, headers });
}

/**
 * Remote documents (JWKS, discovery, key stores) of one isolate. When each is due, how long to
 * back off after a failure and when an unknown `kid` moves a fetch forward are the core's
 * schedule; this only fetches what it says is due and hands the answer back.
 */
class Sources {
  constructor(gateway, count) {
    this.gateway = gateway;
    this.count = count;
    /** id → the fetch out for a source never loaded, which requests wait for. */
    this.first = new Map();
    /** Whether the core was asked once: its schedule knows every source from then on. */
    this.started = false;
  }

  /**
   * Starts the fetches due at `nowMs`; returns the wait for sources never loaded, or `undefined`
   * when there is none. Before the time the core's schedule names (`nextFetchAt`) nothing is due,
   * so a request then costs no round trip through the core's JSON.
   */
  pump(nowMs, ctx) {
    const next = this.gateway.nextFetchAt();
    if (!this.started || (next !== undefined && nowMs >= next)) {
      this.started = true;
      this.start(nowMs, ctx);
    }
    return this.first.size > 0 ? Promise.all(this.first.values()) : undefined;
  }

  /** Starts what is due; returns the fetches of sources never loaded (requests wait for those). */
  start(nowMs, ctx) {
    const firsts = [];
    for (const f of JSON.parse(this.gateway.dueFetches(BigInt(nowMs)))) {
      const run = this.run(f, ctx);
      if (!f.first) ctx.waitUntil(run);
      else {
        const done = run.finally(() => this.first.delete(f.id));
        this.first.set(f.id, done);
        firsts.push(done);
      }
    }
    return firsts;
  }

  async run(f, ctx) {
    // f.headers: `accept`, and `if-none-match` / `if-modified-since` once a document is in use.
    const { status, headers, body } = await get(f);
    const { log, counter } = JSON.parse(this.gateway.fetched(f.id, status, headers.get('etag'), headers.get('last-modified'), body, BigInt(Date.now())));
    if (log) console.warn(`tokenwarden: ${log}`);
    this.count([counter]);
    // A discovery document named the JWKS: it is due now, and whoever waited for the first
    // load waits for it too.
    await Promise.all(this.start(Date.now(), ctx));
  }
}

const NO_ANSWER = { status: 0, headers: new Headers(), body: new Uint8Array() };

/** WebCrypto copies of keys by the core's key id (unique per isolate) and algorithm. */
const imported = new Map();
/** Keys kept imported; past it the cache starts again (key sets hold a handful). */
const MAX_IMPORTED = 256;
/** WebCrypto's parameters by JWS algorithm, as the core gives them (`null`: the core verifies). */
const webCryptoParams = new Map();

const bytes = (b64url) => Uint8Array.from(atob(b64url.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));

/**
 * WebCrypto's verdict on the signature a decision stopped at (`action: verify`): true if one
 * candidate key verifies it; `undefined` when workerd cannot decide (an algorithm or key it does
 * not take), and the core verifies instead. The core chose the keys, the algorithm and its
 * WebCrypto parameters; this only runs the primitive. Never throws.
 */
async function verifyNatively(d) {
  if (!webCryptoParams.has(d.alg)) webCryptoParams.set(d.alg, JSON.parse(webCrypto(d.alg) ?? 'null'));
  const params = webCryptoParams.get(d.alg);
  if (!params) return undefined;
  let input, signature;
  try {
    input = bytes(d.input);
    signature = bytes(d.signature);
  } catch {
    return undefined;
  }
  for (const { id, jwk } of d.keys) {
    const name = `${id} ${d.alg}`;
    let pending = imported.get(name);
    if (!pending) {
      if (imported.size >= MAX_IMPORTED) imported.clear();
      pending = crypto.subtle.importKey('jwk', jwk, params.import, false, ['verify']).catch(() => undefined);
      imported.set(name, pending);
    }
    const key = await pending;
    if (!key) return undefined;
    let ok;
    try {
      ok = await crypto.subtle.verify(params.verify, key, signature, input);
    } catch {
      return undefined;
    }
    // Only a boolean is a verdict (a patched or polyfilled subtle could answer anything).
    if (ok === true) return true;
    if (ok !== false) return undefined;
  }
  return false;
}

/**
 * Makes a call the core asked for; status 0 when there was no answer (or no url to call). A
 * document's body is read up to its `max_bytes` plus one byte (the core refuses it then),
 * never whole: a 50 MB answer costs no more than that.
 */
async function call({ url, method = 'GET', headers, body, timeout_ms: timeout, max_bytes: max }) {
  if (!url) return NO_ANSWER;
  try {
    const res = await fetch(url, { method, headers, body, signal: AbortSignal.timeout(timeout) });
    return { status: res.status, headers: res.headers, body: await readUpTo(res, max === undefined ? Infinity : max + 1) };
  } catch {
    return NO_ANSWER;
  }
}

/** At most `limit` bytes of a response body; the rest is not read. */
async function readUpTo(res, limit) {
  if (limit === Infinity || !res.body) return new Uint8Array(await res.arrayBuffer());
  const chunks = [];
  let size = 0;
  const reader = res.body.getReader();
  while (size < limit) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.length;
  }
  if (size >= limit) await reader.cancel();
  const out = new Uint8Array(Math.min(size, limit));
  let at = 0;
  for (const c of chunks) {
    const part = c.subarray(0, out.length - at);
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** GETs a document. */
const get = (f) => call(f);

/**
 * Runs `decide(store)` against the per-isolate buckets, or, with a RATE_LIMITER binding,
 * against the shared store: decide on the isolate's copy of the buckets (kept in the gateway),
 * then commit what the decision read and wrote in one compare-and-swap; if another isolate got
 * there first, decide again with the fresher buckets the store answered. A store that cannot be
 * reached or keeps conflicting fails closed: limited requests are refused (rate_limited), as
 * when Envoy's shared data fails.
 */
async function decideWith(env, gateway, decide) {
  if (!env.RATE_LIMITER) return JSON.parse(decide('local'));
  const stub = env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName('global'));
  for (let attempt = 0; attempt < COMMIT_ATTEMPTS; attempt++) {
    const out = JSON.parse(decide('shared'));
    if (Object.keys(out.reads).length === 0) return out;
    let answer;
    try {
      answer = await stub.commit(out.reads, out.writes);
    } catch (e) {
      console.warn(`tokenwarden: the rate-limit store did not answer (${e.name}); limited requests are refused`);
      forget(gateway, out);
      break;
    }
    gateway.rememberShared(JSON.stringify(answer.buckets));
    if (answer.ok) return out;
    forget(gateway, out);
  }
  return JSON.parse(decide('closed'));
}

/** Drops the signature check of a decision that is decided again (each decision makes its own). */
function forget(gateway, out) {
  if (out.check !== undefined) gateway.forgetCheck(out.check);
}

/** The request facts the gateway reads. */
function factsOf(request, url, nowMs) {
  // Audit sampling, not a secret: Math.random is enough, and cheaper than a CSPRNG call.
  const sample = Math.floor(Math.random() * 0x1_0000_0000);
  return JSON.stringify({
    method: request.method,
    path: url.pathname + url.search,
    headers: [...request.headers],
    // The platform's view of the client; `client_ip.header` in the configuration overrides it.
    peer: request.headers.get('cf-connecting-ip'),
    now_ms: nowMs,
    sample,
  });
}

/** Forwards an allowed request to the origin as the decision says (like the Envoy filter). */
async function forward(request, url, origin, d) {
  // Concatenated, not resolved: a path like `//host/x` must not change the origin.
  const target = new URL(origin + (d.upstream_path ?? url.pathname + url.search));
  const headers = new Headers(request.headers);
  for (const name of d.upstream_remove) headers.delete(name);
  for (const [name, value] of d.upstream_set) headers.set(name, value);
  const response = await fetch(target, { method: request.method, headers, body: request.body, redirect: 'manual' });
  if (d.response_headers.length === 0) return response;
  // X-RateLimit-* of an allowed request reach the client, replacing any the origin sent.
  const answer = new Response(response.body, response);
  for (const [name, value] of d.response_headers) answer.headers.set(name, value);
  return answer;
}

/**
 * Writes the decision's audit line with what only the host sees, as the filter does: for a
 * forwarded request the status the origin answered (0: none), and the milliseconds since the
 * request arrived (the Workers clock moves only across I/O, so a refusal's is about 0).
 */
function writeAudit(line, status, arrivedMs) {
  const event = JSON.parse(line);
  if (status !== undefined) event.status = status;
  event.latency_ms = Math.max(0, Date.now() - arrivedMs);
  console.log(JSON.stringify(event));
}

export default {
  async fetch(request, env, ctx) {
    const s = load(env);
    if (!s.gateway) {
      const { decision, metrics } = JSON.parse(unconfigured());
      count(env, metrics);
      return respond(decision);
    }
    const nowMs = Date.now();
    const firstLoad = s.sources.pump(nowMs, ctx);
    if (firstLoad) await firstLoad;
    const url = new URL(request.url);
    const facts = factsOf(request, url, nowMs);
    let { decision: d, metrics, check } = await decideWith(env, s.gateway, (store) => s.gateway.decide(facts, store));
    // An unknown `kid` (or no keys) made a refetch due.
    if (d.report?.refetch) ctx.waitUntil(s.sources.pump(nowMs, ctx) ?? Promise.resolve());
    if (d.action === 'verify') {
      // A JWT's signature, for WebCrypto (a cache miss): the core goes on with the verdict.
      try {
        const verdict = await verifyNatively(d);
        ({ decision: d, metrics } = await decideWith(env, s.gateway, (store) => s.gateway.onVerified(facts, check, verdict, store)));
      } finally {
        s.gateway.forgetCheck(check);
      }
    }
    if (d.action === 'call') {
      // An introspection POST or a key lookup GET, as the core wrote it. Its headers may hold
      // a client secret: never logged.
      const { status, body } = await call({ ...d, body: d.body ?? undefined });
      ({ decision: d, metrics } = await decideWith(env, s.gateway, (store) => s.gateway.onCall(facts, status, body, store)));
      // Once per call, whatever the rate-limit store's retries: an endpoint's outage is logged
      // when it starts and when it ends.
      const line = d.report?.call && s.gateway.recordCall(JSON.stringify(d.report.call));
      if (line) console.warn(`tokenwarden: ${line}`);
    }
    count(env, metrics);
    const audit = d.report?.audit;
    if (d.action === 'forward') {
      const forwarded = forward(request, url, s.originBase, d);
      // Kept alive past the client: a request it abandons still gets its line.
      if (audit) ctx.waitUntil(forwarded.then((r) => writeAudit(audit, r.status, nowMs), () => writeAudit(audit, 0, nowMs)));
      return forwarded;
    }
    if (audit) writeAudit(audit, undefined, nowMs);
    return respond(d.action === 'respond' ? d : JSON.parse(unconfigured()).decision);
  },
};

/**
 * Rate-limit buckets shared by a fleet: a compare-and-swap store of GCRA states (opaque to this
 * class; the core reads and writes them). `commit` validates every bucket a decision read and,
 * only if none changed since, applies its writes — atomically, since a Durable Object runs one
 * event at a time and storage calls hold its input gate. Buckets are kept in storage so they
 * survive the object's eviction; an alarm drops those that are full again.
 */
export class RateLimiter extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    /** key → {state, version}; loaded from storage on first use. */
    this.buckets = new Map();
    /** An alarm to sweep idle buckets is set (checked once per object instance). */
    this.sweepScheduled = false;
  }

  async bucket(key) {
    if (!this.buckets.has(key)) this.buckets.set(key, (await this.ctx.storage.get(key)) ?? { state: null, version: 0 });
    return this.buckets.get(key);
  }

  /**
   * `reads`: key → version the decision saw; `writes`: [{key, state, version}]. Answers
   * `{ok, buckets}`: on a conflict the current buckets of the stale keys, else the new ones.
   */
  async commit(reads, writes) {
    // Storage keys are at most 2 KiB (a key is a rule and a credential id, e.g. a token's
    // `sub`): a longer one is refused before anything changes, and the Worker fails closed.
    if (Object.keys(reads).some((key) => new TextEncoder().encode(key).length > MAX_STORAGE_KEY)) {
      throw new RangeError('a rate-limit key is longer than Durable Object storage allows');
    }
    const stale = {};
    for (const [key, version] of Object.entries(reads)) {
      const b = await this.bucket(key);
      if (b.version !== version) stale[key] = b;
    }
    if (Object.keys(stale).length > 0) return { ok: false, buckets: stale };
    const written = {};
    for (const w of writes) {
      const b = { state: w.state, version: (w.version + 1) >>> 0 };
      this.buckets.set(w.key, b);
      written[w.key] = b;
    }
    if (writes.length > 0) {
      await this.ctx.storage.put(written);
      if (!this.sweepScheduled) {
        if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now() + SWEEP_EVERY_MS);
        this.sweepScheduled = true;
      }
    }
    return { ok: true, buckets: written };
  }

  /**
   * Drops the buckets that are full again at `nowMs` (they decide like absent ones), so storage
   * holds only credentials limited recently; returns how many. An isolate still holding a
   * dropped bucket's old version meets a conflict and decides again from the fresh one.
   */
  async sweep(nowMs = Date.now()) {
    let removed = 0;
    let startAfter;
    for (;;) {
      const page = await this.ctx.storage.list({ startAfter, limit: SWEEP_BATCH });
      if (page.size === 0) return removed;
      const idle = [...page].filter(([, b]) => bucketIdle(b.state ?? '', BigInt(nowMs))).map(([key]) => key);
      // storage.delete takes at most 128 keys at a time.
      for (let i = 0; i < idle.length; i += 128) await this.ctx.storage.delete(idle.slice(i, i + 128));
      for (const key of idle) this.buckets.delete(key);
      removed += idle.length;
      startAfter = [...page.keys()].at(-1);
    }
  }

  async alarm() {
    await this.sweep();
    const left = await this.ctx.storage.list({ limit: 1 });
    this.sweepScheduled = left.size > 0;
    if (this.sweepScheduled) await this.ctx.storage.setAlarm(Date.now() + SWEEP_EVERY_MS);
  }
}
