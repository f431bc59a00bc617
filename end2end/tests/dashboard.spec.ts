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

test('an unknown page says so with a 404', async ({ page }) => {
  const response = await page.goto('/no/such/page');
  expect(response?.status()).toBe(404);
  await expect(page.getByRole('heading', { level: 1, name: 'Page not found' })).toBeVisible();
});
