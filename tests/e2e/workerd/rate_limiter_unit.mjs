// Run by `workerd test` (from worker_durable_object.test.mjs): the RateLimiter Durable Object's
// compare-and-swap, through a real stub. The main module re-exports the class so that workerd
// can host it.

import assert from 'node:assert';

export { RateLimiter } from './src/worker.mjs';

const bucket = (state, version) => ({ state, version });

export const commits = {
  async test(_ctrl, env) {
    const limiter = env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName('unit'));
    // A fresh key is at version 0: a write from version 0 lands and bumps it.
    let answer = await limiter.commit({ a: 0 }, [{ key: 'a', state: '01', version: 0 }]);
    assert.deepStrictEqual(answer, { ok: true, buckets: { a: bucket('01', 1) } });
    // The same write again is stale: refused, with the current bucket to decide again with.
    answer = await limiter.commit({ a: 0 }, [{ key: 'a', state: '02', version: 0 }]);
    assert.deepStrictEqual(answer, { ok: false, buckets: { a: bucket('01', 1) } });
    // One stale read refuses every write of the decision (no partial commit).
    answer = await limiter.commit({ a: 0, b: 0 }, [{ key: 'b', state: '03', version: 0 }]);
    assert.deepStrictEqual(answer, { ok: false, buckets: { a: bucket('01', 1) } });
    answer = await limiter.commit({ b: 0 }, [{ key: 'b', state: '03', version: 0 }]);
    assert.deepStrictEqual(answer, { ok: true, buckets: { b: bucket('03', 1) } });
    // A decision that only read (a peek) commits nothing but is still validated.
    answer = await limiter.commit({ a: 1, b: 1 }, []);
    assert.deepStrictEqual(answer, { ok: true, buckets: {} });
  },
};

export const oneObjectPerName = {
  async test(_ctrl, env) {
    // Every stub for one name reaches the same buckets: what one isolate wrote, another sees.
    const id = env.RATE_LIMITER.idFromName('unit-2');
    await env.RATE_LIMITER.get(id).commit({ k: 0 }, [{ key: 'k', state: 'ff', version: 0 }]);
    const again = await env.RATE_LIMITER.get(id).commit({ k: 0 }, []);
    assert.deepStrictEqual(again, { ok: false, buckets: { k: bucket('ff', 1) } });
  },
};

export const longKeysAreRefused = {
  async test(_ctrl, env) {
    const limiter = env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName('unit-3'));
    const key = `rule0:${'x'.repeat(3000)}`;
    await assert.rejects(limiter.commit({ [key]: 0 }, [{ key, state: '01', version: 0 }]), /longer than Durable Object storage allows/);
    // Nothing changed: a normal key still commits from version 0.
    const answer = await limiter.commit({ ok: 0 }, [{ key: 'ok', state: '01', version: 0 }]);
    assert.strictEqual(answer.ok, true);
  },
};

export const sweepDropsOnlyIdleBuckets = {
  async test(_ctrl, env) {
    const limiter = env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName('unit-4'));
    // GcraState bytes: TAT in unix ms (big-endian u64), then a remainder.
    const state = (tatMs) => `${tatMs.toString(16).padStart(16, '0')}${'0'.repeat(16)}`;
    const now = 1_800_000_000_000;
    await limiter.commit({ busy: 0, idle: 0 }, [
      { key: 'busy', state: state(now + 5000), version: 0 },
      { key: 'idle', state: state(now - 5000), version: 0 },
    ]);
    assert.strictEqual(await limiter.sweep(now), 1);
    // The idle bucket is gone (version 0 again); the busy one is untouched.
    const answer = await limiter.commit({ busy: 0, idle: 1 }, []);
    assert.deepStrictEqual(answer, { ok: false, buckets: { busy: bucket(state(now + 5000), 1), idle: bucket(null, 0) } });
  },
};
