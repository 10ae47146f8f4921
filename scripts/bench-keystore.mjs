// A large polled key store in the Envoy filter: how long a 100 k-key store takes from Envoy's
// start to the first request it accepts (fetch + parse + hand-over to the worker thread), and
// how much resident memory it costs, against the same Envoy with a one-key store in the same
// run. The store is served by a local document server as a remote source (`api_keys.store.remote`),
// as a fleet would poll it. Writes $BENCH_OUT/keystore.json.

import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { apiKey } from '../tests/e2e/lib/apikeys.mjs';
import { bootstrap, freePort, REPO, startEnvoy } from '../tests/e2e/lib/envoy.mjs';
import { request, sleep, startDocumentServer, startEchoServer } from '../tests/e2e/lib/http.mjs';

const KEYS = Number(process.env.BENCH_KEYS ?? 100_000);
const OUT = process.env.BENCH_OUT ?? path.join(REPO, 'target/bench-run');
const rssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

/** A store of `n` records: one key the bench sends, the rest records of random keys. */
function store(n) {
  const sent = apiKey({ permissions: ['read:datasets'] });
  const records = [sent.record];
  for (let i = 1; i < n; i += 1) {
    const hash = createHash('sha256').update(randomBytes(24)).digest('hex');
    records.push({ ...sent.record, id: `key_bench${String(i).padStart(8, '0')}`, name: `bench ${i}`, hash: `sha256:${hash}` });
  }
  // The sent key last: found only once the whole store is in.
  records.push(records.shift());
  return { key: sent.key, doc: { version: 1, keys: records } };
}

/** Envoy with a store of `n` keys: ms from start until the sent key is accepted, and RSS. */
async function measure(n, origin) {
  const { key, doc } = store(n);
  const body = JSON.stringify(doc);
  const docs = await startDocumentServer({ '/keys.json': doc });
  const [listenerPort, adminPort] = [await freePort(), await freePort()];
  const pluginConfig = {
    api_keys: { store: { remote: { cluster: 'docs', path: '/keys.json', timeout_ms: 30000, refresh_secs: 3600 } } },
    sources: [{ type: 'header', name: 'x-api-key' }],
  };
  const config = bootstrap({ listenerPort, adminPort, upstreamPort: origin.port, pluginConfig, clusters: { docs: docs.port } });
  const envoy = await startEnvoy({ config, listenerPort, adminPort });
  const started = Date.now();
  try {
    let status = 0;
    while (status !== 200 && Date.now() - started < 120_000) {
      status = (await request(listenerPort, { headers: { 'x-api-key': key } })).status;
      if (status !== 200) await sleep(20);
    }
    if (status !== 200) throw new Error(`the ${n}-key store never loaded (last status ${status})`);
    const loadMs = Date.now() - started;
    await sleep(500);
    return { keys: n, document_bytes: Buffer.byteLength(body), load_ms: loadMs, rss_kb: rssKb(envoy.pid) };
  } finally {
    await envoy.stop();
    await docs.stop();
  }
}

const origin = await startEchoServer();
try {
  const small = await measure(1, origin);
  const large = await measure(KEYS, origin);
  const result = { small, large, bytes_per_key: ((large.rss_kb - small.rss_kb) * 1024) / (KEYS - 1) };
  writeFileSync(path.join(OUT, 'keystore.json'), JSON.stringify(result, null, 2));
  console.log(JSON.stringify(result));
} finally {
  await origin.stop();
}
