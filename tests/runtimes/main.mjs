// The suite's entry for Node, Deno and Bun: `<runtime> tests/runtimes/main.mjs <driver origin>`.
// Exits 1 when a check failed (the driver reads the results the suite POSTs back, not this code).
import { run, runtime } from './suite.mjs';

const origin = globalThis.Deno ? globalThis.Deno.args[0] : globalThis.process.argv[2];
const results = await run(origin);
for (const r of results) console.log(`${r.ok ? 'ok' : 'not ok'} ${r.name} (${r.ms} ms)${r.ok ? '' : `\n  ${r.error}`}`);
const failed = results.filter((r) => !r.ok).length;
console.log(`${runtime()}: ${results.length - failed} of ${results.length} checks passed`);
if (failed) globalThis.Deno ? globalThis.Deno.exit(1) : globalThis.process.exit(1);
