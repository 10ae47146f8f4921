// Bundles worker.mjs the way Worker tooling does (esbuild, `workerd` export condition, .wasm
// kept as a module), writes a workerd config, and runs `workerd test` on it.
import { spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { bundleForWorkerd } from './bundle.mjs';
import * as jose from 'jose';
import { FILES, signatureCases } from '../js/wycheproof-cases.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const out = `${root}.tmp/workerd/`;
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const issuer = 'https://issuer.example';
const audience = 'https://api.example';
const tokens = {};
const jwks = {};
for (const alg of ['RS256', 'ES256', 'EdDSA']) {
  const { privateKey, publicKey } = await jose.generateKeyPair(alg, { extractable: true });
  jwks[alg] = { keys: [{ ...(await jose.exportJWK(publicKey)), kid: alg, alg }] };
  tokens[alg] = await new jose.SignJWT({}).setProtectedHeader({ alg, kid: alg }).setIssuer(issuer).setAudience(audience)
    .setSubject('user_123').setIssuedAt().setExpirationTime('10m').sign(privateKey);
}
const body = '{"event":"key.created","id":"evt_1"}';
const secret = 'whsec_workerd_0123456789';
const fixtures = {
  issuer, audience, tokens, jwks,
  forgedPayload: jose.base64url.encode(JSON.stringify({ sub: 'admin', iss: issuer, aud: audience, exp: 9999999999 })),
  webhook: { body, secret, signature: `sha256=${createHmac('sha256', secret).update(body).digest('hex')}` },
};
writeFileSync(`${out}fixtures.json`, JSON.stringify(fixtures));
// Wycheproof's cases for WebCrypto in workerd (BoringSSL), with the answers the core gives.
writeFileSync(`${out}wycheproof.json`, JSON.stringify(Object.fromEntries(Object.keys(FILES).map((f) => [f, signatureCases(f)]))));

const wasm = await bundleForWorkerd({ worker: `${root}tests/workerd/worker.mjs`, quickstart: `${root}examples/worker/worker.js` }, out);
if (wasm.length !== 1 || !wasm[0].startsWith('tokenwarden_bg')) throw new Error(`expected one tokenwarden wasm module, got ${wasm}`);
writeFileSync(`${out}jwks.json`, JSON.stringify(jwks.RS256));

// main runs the tests; quickstart is README's Worker (examples/worker), reached by a service binding.
writeFileSync(`${out}config.capnp`, `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (services = [(name = "main", worker = .main), (name = "quickstart", worker = .quickstart)]);
const main :Workerd.Worker = (
  modules = [(name = "worker.js", esModule = embed "worker.js"), (name = "${wasm[0]}", wasm = embed "${wasm[0]}")],
  compatibilityDate = "2025-01-01",
  bindings = [(name = "FIXTURES", text = embed "fixtures.json"), (name = "WYCHEPROOF", text = embed "wycheproof.json"), (name = "QUICKSTART", service = "quickstart")],
);
const quickstart :Workerd.Worker = (
  modules = [(name = "quickstart.js", esModule = embed "quickstart.js"), (name = "${wasm[0]}", wasm = embed "${wasm[0]}")],
  compatibilityDate = "2025-01-01",
  bindings = [(name = "JWKS", text = embed "jwks.json"), (name = "ISSUER", text = "${issuer}"), (name = "AUDIENCE", text = "${audience}")],
);
`);

const run = spawnSync(`${root}node_modules/.bin/workerd`, ['test', `${out}config.capnp`], { stdio: 'inherit' });
process.exit(run.status ?? 1);
