// Where the Deno and Bun binaries are after `npm install` (both are root devDependencies), with
// or without their install scripts: the `deno` and `bun` packages' postinstall moves the binary
// out of the platform package (@deno/<platform>, @oven/bun-<platform>) into their own folder;
// without it (`npm install --ignore-scripts`) the platform package still holds it.
// `node tests/runtimes/binaries.mjs` prints each runtime's version and exits 1 if one is missing
// (scripts/setup.sh runs it).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const modules = fileURLToPath(new URL('../../node_modules/', import.meta.url));
const bunPlatform = `${process.platform === 'win32' ? 'windows' : process.platform}-${process.arch === 'arm64' ? 'aarch64' : process.arch}`;
const exe = process.platform === 'win32' ? '.exe' : '';

const candidates = {
  deno: [`${modules}.bin/deno${exe}`, `${modules}deno/deno${exe}`,
    `${modules}@deno/${process.platform}-${process.arch}${process.platform === 'linux' ? '-glibc' : ''}/deno${exe}`],
  bun: [`${modules}bun/bin/bun.exe`, `${modules}@oven/bun-${bunPlatform}/bin/bun${exe}`],
};

const versionOf = (bin) => {
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 30_000 });
  return r.status === 0 ? r.stdout.split('\n')[0].trim() : undefined;
};

/** `{ bin, version }` of the first candidate that runs, or undefined. */
export function runtimeBinary(name) {
  for (const bin of candidates[name]) {
    const version = versionOf(bin);
    if (version) return { bin, version };
  }
  return undefined;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  let missing = 0;
  for (const name of Object.keys(candidates)) {
    const found = runtimeBinary(name);
    if (found) console.log(`${name}: ${found.version} (${found.bin})`);
    else console.error(`${name}: not found in node_modules (looked at ${candidates[name].join(', ')})`), missing++;
  }
  process.exit(missing ? 1 : 0);
}
