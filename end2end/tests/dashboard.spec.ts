import { expect, test } from '@playwright/test';
import { ADMIN, expectedEngines, loginAs, openHydrated } from './helpers';

test.beforeEach(async ({ page }) => {
  await loginAs(page, ADMIN.username, ADMIN.password);
});

test('the dashboard lists the hosts and refreshes them once hydrated', async ({ page }) => {
  const errors = await openHydrated(page, '/');
  await expect(page.getByRole('heading', { level: 1, name: 'Dashboard' })).toBeVisible();

  const rows = page.locator('table.hosts tbody tr');
  await expect(rows).toHaveCount(expectedEngines());
  for (const row of await rows.all()) {
    await expect(row).toHaveAttribute('data-state', 'ready');
    await expect(row.locator('td').nth(1)).toContainText('API 1.41');
  }

  // The button works only when the WASM runs: it calls the server function again.
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().includes('/api/list_hosts') && r.request().method() === 'POST'),
    page.getByRole('button', { name: 'Refresh' }).click(),
  ]);
  expect(response.ok()).toBeTruthy();
  await expect(rows).toHaveCount(expectedEngines());
  expect(errors).toEqual([]);
});

test('the sidebar navigates without reloading the page', async ({ page }) => {
  await openHydrated(page, '/');
  const nav = page.getByRole('navigation', { name: 'Main' });
  for (const name of ['Dashboard', 'Services', 'Hosts', 'Proxy', 'Events', 'Teams', 'Settings', 'Users', 'Audit log']) {
    await expect(nav.getByRole('link', { name })).toBeVisible();
  }
  // A marker on window survives client-side navigation but not a reload.
  await page.evaluate(() => ((window as any).berthMarker = 1));
  await nav.getByRole('link', { name: 'Hosts' }).click();
  await expect(page).toHaveURL(/\/hosts$/);
  await expect(page.getByRole('heading', { level: 1, name: 'Hosts' })).toBeVisible();
  await expect(nav.getByRole('link', { name: 'Hosts' })).toHaveAttribute('aria-current', 'page');
  await expect(page.locator('table.hosts tbody tr')).toHaveCount(expectedEngines());

  await nav.getByRole('link', { name: 'Settings' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Settings' })).toBeVisible();
  await expect(page.locator('dl.facts').last()).toContainText('wal');
  expect(await page.evaluate(() => (window as any).berthMarker)).toBe(1);
});

test('every page comes alive when opened directly, its code loaded with it', async ({ page }) => {
  // The pages are split into lazily loaded chunks of WASM: a hard refresh of any
  // page must load its chunk before hydrating, and hydrate the server's markup
  // rather than draw a second copy beside it.
  const pages: [string, string][] = [
    ['/', 'Dashboard'],
    ['/services', 'Services'],
    ['/hosts', 'Hosts'],
    ['/hosts/h1', 'h1'],
    ['/events', 'Events'],
    ['/pools', 'Host pools'],
    ['/proxy', 'Proxy'],
    ['/certificates', 'Certificates'],
    ['/volumes', 'Volumes'],
    ['/teams', 'Teams'],
    ['/secrets', 'Secrets'],
    ['/users', 'Users'],
    ['/audit', 'Audit log'],
    ['/settings', 'Settings'],
  ];
  for (const [path, title] of pages) {
    const chunks: string[] = [];
    const seen = (r: { url(): string }) => {
      if (/\/pkg\/[0-9a-f]{16}\/pkg\/(split|chunk)_\w+\.wasm$/.test(r.url())) chunks.push(r.url());
    };
    page.on('requestfinished', seen);
    const errors = await openHydrated(page, path);
    page.off('requestfinished', seen);
    await expect(page.getByRole('heading', { level: 1 }), path).toHaveCount(1);
    await expect(page.getByRole('heading', { level: 1, name: title }), path).toBeVisible();
    expect(chunks.length, `${path} loads its group's chunk`).toBeGreaterThan(0);
    expect(errors, path).toEqual([]);
  }
  // The server names the page's chunks, so that they load beside the main module.
  const dashboard = await (await page.request.get('/')).text();
  expect(dashboard).toMatch(/href="\/pkg\/[0-9a-f]{16}\/pkg\/split_overview_pages_\w+\.wasm"/);
  // The login page is in the main module: no chunk at all.
  await page.context().clearCookies();
  expect(await (await page.request.get('/login')).text()).not.toMatch(/(split|chunk)_\w+\.wasm/);
  const chunks: string[] = [];
  page.on('requestfinished', (r) => {
    if (/\.wasm$/.test(r.url()) && !/\/berth(_bg)?\.wasm$/.test(r.url())) chunks.push(r.url());
  });
  await openHydrated(page, '/login');
  await expect(page.getByRole('heading', { level: 1 })).toHaveCount(1);
  expect(chunks).toEqual([]);
});

test('a page whose code cannot be loaded reloads the dashboard rather than leave it dead', async ({ page }) => {
  // As after a new build replaced the files a page opened earlier would load.
  await openHydrated(page, '/');
  await page.route(/\/split_admin_pages_\w+\.wasm$/, (r) => r.fulfill({ status: 404 }));
  await page.evaluate(() => ((window as any).berthMarker = 1));
  const nav = page.getByRole('navigation', { name: 'Main' });
  await nav.getByRole('link', { name: 'Teams' }).click();
  // The page reloaded (the marker on window is gone) and is alive again.
  const marker = () => page.evaluate(() => (window as any).berthMarker ?? 'reloaded').catch(() => 'reloading');
  await expect.poll(marker).toBe('reloaded');
  await expect(page.locator('.layout')).toHaveAttribute('data-hydrated', 'true');
  // With the files there again, the link works.
  await page.unroute(/\/split_admin_pages_\w+\.wasm$/);
  await page.evaluate(() => sessionStorage.clear());
  await nav.getByRole('link', { name: 'Teams' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Teams' })).toBeVisible();
});

test('an unknown page says so with a 404', async ({ page }) => {
  const response = await page.goto('/no/such/page');
  expect(response?.status()).toBe(404);
  await expect(page.getByRole('heading', { level: 1, name: 'Page not found' })).toBeVisible();
});

test('the sidebar runs the whole height of a long page', async ({ page, context }) => {
  await openHydrated(page, '/');
  // Make the page three screens long, as 1,000 services or a long event list would.
  await page.evaluate(() => {
    const filler = document.createElement('div');
    filler.style.height = `${window.innerHeight * 3}px`;
    document.getElementById('main')!.appendChild(filler);
  });
  const shot = await page.screenshot({ fullPage: true });
  const viewport = page.viewportSize()!;
  // Read the pixels in a blank page: the dashboard's CSP allows no image from a blob.
  const blank = await context.newPage();
  const [top, bottom, content] = await blank.evaluate(async (b64) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const canvas = document.createElement('canvas');
    canvas.width = img.width;
    canvas.height = img.height;
    const ctx = canvas.getContext('2d')!;
    ctx.drawImage(img, 0, 0);
    const at = (x: number, y: number) => Array.from(ctx.getImageData(x, y, 1, 1).data.slice(0, 3));
    return [at(4, 4), at(4, img.height - 4), at(img.width - 4, img.height - 4)];
  }, shot.toString('base64'));
  await blank.close();
  expect(shot.length).toBeGreaterThan(0);
  const dark = (rgb: number[]) => rgb.every((c) => c < 60);
  expect(dark(top), `top left ${top}`).toBe(true);
  expect(dark(bottom), `bottom left ${bottom} of a page ${viewport.height * 4}px tall`).toBe(true);
  expect(dark(content), `bottom right ${content}`).toBe(false);
});

test("the dashboard's files are named after their content and kept for good", async ({ page }) => {
  const files: { url: string; cache: string }[] = [];
  page.on('response', (r) => {
    if (r.url().includes('/pkg/')) files.push({ url: r.url(), cache: r.headers()['cache-control'] ?? '' });
  });
  await openHydrated(page, '/');
  const kinds = new Set<string>();
  for (const f of files) {
    // One folder per build (the lazily loaded pages' chunks import the main
    // module by a relative name), named after its content.
    const m = /\/pkg\/[0-9a-f]{16}\/pkg\/[\w.]+\.(wasm|js|css)$/.exec(f.url);
    expect(m, f.url).not.toBeNull();
    expect(f.cache, f.url).toContain('immutable');
    kinds.add(m![1]);
  }
  expect([...kinds].sort()).toEqual(['css', 'js', 'wasm']);
  // Another build's name is not served.
  const other = await page.request.get('/pkg/0000000000000000/pkg/berth.wasm');
  expect(other.status()).toBe(404);
});
