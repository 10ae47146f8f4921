// Bundles modules for workerd the way Worker tooling does: esbuild with the `workerd` export
// condition, and the package's .wasm kept as a module file beside the bundle (workerd imports it
// as a compiled module). Resolves to the names of the .wasm files written.
import * as esbuild from 'esbuild';

export async function bundleForWorkerd(entryPoints, outdir) {
  const result = await esbuild.build({
    entryPoints,
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    conditions: ['workerd', 'worker', 'browser'],
    loader: { '.wasm': 'copy' },
    assetNames: '[name]',
    outdir,
    metafile: true,
    logLevel: 'warning',
  });
  return Object.keys(result.metafile.outputs).filter((f) => f.endsWith('.wasm')).map((f) => f.split('/').pop());
}
