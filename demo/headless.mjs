// The demo scenario in headless Chromium (Debian's, driven by playwright-core): the same page a
// person would use, every step checked, one table at the end.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

async function get(url, headers = {}) {
  const res = await fetch(url, { headers });
  const text = await res.text();
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, body, headers: res.headers };
}

/** Runs every step; returns true when all passed. */
export async function scenario({ pageOrigin, workerOrigin, keys, provider, dir, accessTtl }) {
  const rows = [];
  const step = async (name, fn) => {
    try {
      const detail = await fn();
      rows.push({ ok: true, name, detail });
    } catch (e) {
      rows.push({ ok: false, name, detail: e.message.split('\n')[0] });
    }
  };
  const expect = (cond, what) => {
    if (!cond) throw new Error(what);
  };

  const tmp = path.join(dir, 'tmp');
  mkdirSync(tmp, { recursive: true });
  process.env.TMPDIR = tmp;
  const profile = mkdtempSync(path.join(tmp, 'chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: '/usr/bin/chromium', headless: true, args: ARGS });
  const page = await context.newPage();
  try {
    await step('login with PKCE at the OpenID provider', async () => {
      await page.goto(`${pageOrigin}/`);
      await page.waitForFunction(() => window.demo?.ready);
      await page.click('#login');
      await page.waitForSelector('input[name="login"]');
      await page.fill('input[name="login"]', 'alice');
      await page.fill('input[name="password"]', 'demo');
      await page.click('button[type="submit"]');
      await page.waitForSelector('button[type="submit"]');
      await page.click('button[type="submit"]');
      await page.waitForFunction(() => document.getElementById('status')?.textContent === 'signed in', null, { timeout: 15000 });
      await page.waitForFunction(() => document.getElementById('claims')?.textContent.startsWith('{'));
      const claims = JSON.parse(await page.textContent('#claims'));
      expect(claims.sub === 'alice', `sub ${claims.sub}`);
      return `sub=${claims.sub}, scope="${claims.scope}", expires in ${claims.exp - claims.iat} s`;
    });
    await step('API call through Envoy: 200', async () => {
      const r = await page.evaluate(() => window.demo.callEnvoy());
      expect(r.status === 200, `status ${r.status}`);
      expect(r.body.identity['x-auth-sub'] === 'alice', 'x-auth-sub upstream');
      return `x-auth-sub=${r.body.identity['x-auth-sub']}`;
    });
    await step('API call through the Worker: 200', async () => {
      const r = await page.evaluate(() => window.demo.callWorker());
      expect(r.status === 200, `status ${r.status}`);
      expect(r.body.identity['x-auth-sub'] === 'alice', 'x-auth-sub upstream');
      return `x-auth-sub=${r.body.identity['x-auth-sub']}`;
    });
    await step('tampered token: 401', async () => {
      const r = await page.evaluate(() => window.demo.callTampered());
      expect(r.status === 401, `status ${r.status}`);
      return r.body.error?.code;
    });
    await step('API key (sk_live_): 200', async () => {
      const r = await get(`${pageOrigin}/api/hello`, { 'x-api-key': keys.live });
      expect(r.status === 200, `status ${r.status}`);
      return `x-auth-key-id=${r.body.identity['x-auth-key-id']}`;
    });
    await step('test key (sk_test_) refused in live: 401', async () => {
      const r = await get(`${pageOrigin}/api/hello`, { 'x-api-key': keys.test });
      expect(r.status === 401 && r.body.error?.code === 'wrong_environment', `status ${r.status} ${JSON.stringify(r.body)}`);
      return r.body.error.code;
    });
    await step('rate limit (3/minute on /api/limited): 429', async () => {
      const token = await page.evaluate(() => window.demo.token());
      const statuses = [];
      let last;
      for (let i = 0; i < 4; i++) {
        last = await get(`${pageOrigin}/api/limited`, { authorization: `Bearer ${token}` });
        statuses.push(last.status);
      }
      expect(statuses.join() === '200,200,200,429', statuses.join());
      return `${statuses.join(' ')}, retry-after ${last.headers.get('retry-after')} s`;
    });
    await step('refresh after expiry, then 200', async () => {
      const before = provider.counts.refresh;
      await sleep((accessTtl + 1) * 1000);
      const r = await page.evaluate(() => window.demo.callEnvoy());
      expect(r.status === 200, `status ${r.status}`);
      expect(provider.counts.refresh > before, 'no refresh at the provider');
      return `${provider.counts.refresh - before} refresh (rotated refresh token)`;
    });
    await step('logout (refresh token revoked at the provider)', async () => {
      let revoked;
      page.on('response', (r) => {
        if (r.url().endsWith('/token/revocation')) revoked = r.status();
      });
      await page.evaluate(() => window.demo.logout());
      const still = await page.evaluate(() => window.demo.isAuthenticated());
      expect(!still, 'still signed in');
      expect(revoked === 200, `revocation answered ${revoked}`);
      return 'session cleared, RFC 7009 revocation 200';
    });
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }

  const width = Math.max(...rows.map((r) => r.name.length));
  console.log('\n| step | result | detail |\n|---|---|---|');
  for (const r of rows) console.log(`| ${r.name.padEnd(width)} | ${r.ok ? 'ok  ' : 'FAIL'} | ${r.detail ?? ''} |`);
  const failed = rows.filter((r) => !r.ok).length;
  console.log(failed ? `\n${failed} step(s) failed` : '\nall steps passed');
  return failed === 0;
}
