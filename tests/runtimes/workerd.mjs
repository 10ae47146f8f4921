// The suite's entry for workerd: a test handler, bundled by the driver with the `workerd` export
// condition; the driver's origin comes in a text binding.
import { run } from './suite.mjs';

export default {
  async test(_ctrl, env) {
    const failed = (await run(env.ORIGIN)).filter((r) => !r.ok);
    if (failed.length) throw new Error(failed.map((r) => `${r.name}: ${r.error}`).join('\n'));
  },
};
