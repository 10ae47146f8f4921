// The storage policies a page can choose, in real Chromium against oidc-provider (docs/js.md,
// Storage): what survives a reload, what a new tab sees, and what is written where. `local`
// is run by login.test.mjs (credential login); `memory` by its two-tab test.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { signIn, sleep, startBrowserSuite } from './browser.mjs';

const ACCESS_TTL = 30;
let suite;

before(async () => {
  suite = await startBrowserSuite({ accessTokenTtl: ACCESS_TTL });
});
after(async () => suite?.close());

/** Every value the page keeps in localStorage and sessionStorage. */
const stored = (page) => page.evaluate(() => ({
  local: Object.keys(localStorage).map((k) => localStorage.getItem(k)).join('\n'),
  session: Object.keys(sessionStorage).map((k) => sessionStorage.getItem(k)).join('\n'),
}));

test("'session': the tokens live in sessionStorage, survive a reload, and never touch localStorage", async () => {
  const tab = await suite.openApp('storage=session');
  await signIn(tab);
  const token = await tab.evaluate(() => window.app.token());
  const before = await stored(tab);
  assert.ok(before.session.includes(token), 'the access token is in sessionStorage');
  assert.ok(!before.local.includes(token), 'nothing of it in localStorage');
  const refreshes = suite.provider.counts.refresh;
  await tab.reload();
  await tab.waitForFunction(() => window.app !== undefined);
  assert.equal(await tab.evaluate(() => window.app.isAuthenticated()), true, 'signed in after the reload');
  assert.equal(await tab.evaluate(() => window.app.token()), token, 'the same access token, no refresh');
  assert.equal(suite.provider.counts.refresh, refreshes);
  assert.equal((await tab.evaluate(() => window.app.callApi())).status, 200);
  await tab.evaluate(() => window.app.logout());
  assert.ok(!(await stored(tab)).session.includes(token), 'logout clears sessionStorage');
  await tab.close();
});

test("'refresh-token': only the refresh token is stored; after a reload the access token comes from a refresh", async () => {
  const tab = await suite.openApp('storage=refresh-token');
  await signIn(tab);
  const token = await tab.evaluate(() => window.app.token());
  const kept = await stored(tab);
  assert.ok(!kept.local.includes(token) && !kept.session.includes(token), 'the access token is in memory only');
  assert.match(kept.local, /refresh/i, 'the refresh token is in localStorage');
  const refreshes = suite.provider.counts.refresh;
  await tab.reload();
  await tab.waitForFunction(() => window.app !== undefined);
  assert.equal((await tab.evaluate(() => window.app.callApi())).status, 200, 'signed in after the reload');
  assert.equal(suite.provider.counts.refresh, refreshes + 1, 'one refresh brought the access token back');
  const again = await tab.evaluate(() => window.app.token());
  assert.notEqual(again, token);
  // A new tab reads the same refresh token: signed in without a login form.
  const other = await suite.openApp('storage=refresh-token');
  assert.equal((await other.evaluate(() => window.app.callApi())).status, 200, 'a new tab is signed in');
  assert.equal(suite.provider.counts.refreshErrors, 0, 'no tab used a rotated-out refresh token');
  await other.evaluate(() => window.app.logout());
  await sleep(200);
  assert.ok(!/refresh/i.test((await stored(tab)).local), 'logout clears localStorage');
  await other.close();
  await tab.close();
});
