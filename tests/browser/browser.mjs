// What the Chromium suites share: a provider and the SPA on free ports, a headless Chromium with
// its own profile, and the provider's login and consent pages filled in as alice.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { chromium } from 'playwright-core';
import { startProvider, API_AUDIENCE } from './provider.mjs';
import { startApp } from './app-server.mjs';

const tmp = new URL('../../.tmp/', import.meta.url).pathname;
mkdirSync(tmp, { recursive: true });
process.env.TMPDIR = tmp;

export const freePort = () => new Promise((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => {
    const { port } = s.address();
    s.close(() => resolve(port));
  });
});
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Debian's headless Chromium with a fresh profile under .tmp/; `close()` ends it and removes the profile. */
export async function launchChromium() {
  const profile = mkdtempSync(`${tmp}chromium-`);
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const close = async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  };
  return { context, close };
}

/** The provider (access tokens of `accessTokenTtl` s), the SPA and Chromium; `close()` ends all. */
export async function startBrowserSuite({ accessTokenTtl }) {
  const [opPort, appPort] = [await freePort(), await freePort()];
  const mount = process.env.TOKENWARDEN_OIDC_MOUNT ?? '';
  const provider = await startProvider({ port: opPort, redirectUri: `http://127.0.0.1:${appPort}/callback`, accessTokenTtl, mount });
  const app = await startApp({ port: appPort, issuer: provider.issuer, audience: API_AUDIENCE });
  const { context, close: closeChromium } = await launchChromium();
  /** A new tab on the SPA; `hash` adds settings (`storage=local`). */
  const openApp = async (hash = '') => {
    const page = await context.newPage();
    page.on('pageerror', (e) => console.error('page error:', e.message));
    await page.goto(`${app.origin}/#issuer=${encodeURIComponent(provider.issuer)}${hash ? `&${hash}` : ''}`);
    await page.waitForFunction(() => window.app !== undefined);
    return page;
  };
  const close = async () => {
    await closeChromium();
    await app.close();
    await provider.close();
  };
  return { provider, app, context, openApp, close };
}

/**
 * Signs in on `page` through the provider's pages as alice: the login form, then consent. A
 * provider session or consent left by an earlier test skips a page: each step answers what is
 * on screen until the SPA says it is signed in.
 */
export async function signIn(page) {
  const signedIn = () => document.getElementById('status')?.textContent === 'signed in';
  await page.click('#login');
  for (let step = 0; step < 4; step++) {
    const what = await Promise.race([
      page.waitForSelector('button[type="submit"]').then(() => 'page'),
      page.waitForFunction(signedIn).then(() => 'done'),
    ]);
    if (what === 'done') return;
    const at = page.url();
    if (await page.$('input[name="login"]')) {
      await page.fill('input[name="login"]', 'alice');
      await page.fill('input[name="password"]', 'any');
    }
    await page.click('button[type="submit"]');
    await page.waitForURL((u) => u.href !== at);
  }
  await page.waitForFunction(signedIn);
}
