// The first page a new user opens (the login page), in Debian's Chromium over a
// link throttled to 10 Mbit/s down and up with 20 ms of latency: bytes
// transferred (as sent: compressed when the server compressed them) and the time
// until the page is interactive (the WASM hydrated it: data-hydrated="true");
// then the same page again, its hashed files from the browser's cache; then, logged
// in as the admin (BERTH_BENCH_PASSWORD), the dashboard in a new browser (its
// group's chunks of WASM with it) and again from the cache.
// `node end2end/bench/first-page.mjs http://127.0.0.1:3950` (scripts/bench --only page).
import { chromium } from '@playwright/test';

const url = process.argv[2] ?? 'http://127.0.0.1:3000';
const MBIT = 1_000_000 / 8;

const password = process.env.BERTH_BENCH_PASSWORD;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
let page;
let cdp;
let files = new Map();
const urls = new Map();

/** A new browser context (nothing cached) on the throttled link. */
async function fresh() {
  const context = await browser.newContext();
  page = await context.newPage();
  cdp = await context.newCDPSession(page);
  await watch();
  return context;
}

/** Throttles the link and counts what each response transferred. */
async function watch() {
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false, latency: 20, downloadThroughput: 10 * MBIT, uploadThroughput: 10 * MBIT,
  });
  cdp.on('Network.responseReceived', (e) => urls.set(e.requestId, {
    url: e.response.url, encoding: e.response.headers['content-encoding'] ?? e.response.headers['Content-Encoding'] ?? '',
    cached: e.response.fromDiskCache || e.response.fromMemoryCache,
  }));
  cdp.on('Network.requestServedFromCache', (e) => urls.set(e.requestId, { ...(urls.get(e.requestId) ?? {}), cached: true }));
  cdp.on('Network.loadingFinished', (e) => {
    const u = urls.get(e.requestId);
    if (u?.url) files.set(u.url, { bytes: e.encodedDataLength, encoding: u.encoding, cached: u.cached });
  });
}

async function load(label, path = '/login') {
  files = new Map();
  const started = Date.now();
  await page.goto(`${url}${path}`, { waitUntil: 'commit' });
  await page.locator('[data-hydrated="true"]').waitFor({ timeout: 120_000 });
  const interactive = (Date.now() - started) / 1000;
  // Let the last transfers finish before counting them.
  await page.waitForLoadState('networkidle');
  let total = 0;
  let wasm = 0;
  let chunks = 0;
  const parts = [];
  for (const [u, f] of files) {
    total += f.bytes;
    const name = new URL(u).pathname.split('/').pop() || '/';
    if (/\.wasm$/.test(name)) wasm += f.bytes;
    if (/^(split|chunk)_\w+\.wasm$/.test(name)) {
      chunks += 1;
    } else if (/\.(wasm|js|css)$/.test(name)) {
      parts.push(`${name} ${(f.bytes / 1024).toFixed(0)} KB${f.encoding ? ` ${f.encoding}` : ''}${f.cached ? ' (cache)' : ''}`);
    }
  }
  if (chunks) parts.push(`${chunks} chunks of pages`);
  console.log(`${path} (${label}) at 10 Mbit/s: ${(total / 1024).toFixed(0)} KB transferred (WASM ${(wasm / 1024).toFixed(0)} KB), interactive after ${interactive.toFixed(2)} s; ${parts.join(', ')}`);
}

let context = await fresh();
await load('a new browser');
await load('again, from the cache');
await context.close();
if (password) {
  context = await fresh();
  const login = await context.request.post(`${url}/api/v1/auth/login`, { data: { username: 'admin', password } });
  if (!login.ok()) throw new Error(`login as admin: ${login.status()}`);
  await load('logged in, a new browser', '/');
  await load('again, from the cache', '/');
  await context.close();
}
await browser.close();
