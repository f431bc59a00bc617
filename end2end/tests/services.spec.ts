import { expect, test } from '@playwright/test';
import { ADMIN, loginAs, openHydrated } from './helpers';

test.beforeEach(async ({ page, baseURL }) => {
  await loginAs(page, ADMIN.username, ADMIN.password);
  // The service's team, made through the API (a page of its own is tested elsewhere).
  const team = await page.request.post('/api/v1/teams', {
    data: { name: 'shop' },
    headers: { origin: baseURL! },
  });
  expect([201, 409]).toContain(team.status());
});

test('a service is created from the form and scaled with the control, live', async ({ page }) => {
  await openHydrated(page, '/services');
  const form = page.getByRole('form', { name: 'New service' });

  // The form checks before it submits.
  await form.getByLabel('Name', { exact: true }).fill('Shop Front');
  await form.getByRole('button', { name: 'Create service' }).click();
  await expect(page.getByRole('alert')).toContainText('invalid service name "Shop Front"');
  await form.getByLabel('Name', { exact: true }).fill('e2e-shop');
  await form.getByLabel('Team').selectOption('shop');
  await form.getByLabel('Replicas').fill('2');
  await form.getByLabel('Memory reserved').fill('lots');
  await form.getByRole('button', { name: 'Create service' }).click();
  await expect(page.getByRole('alert')).toContainText('invalid size "lots"');
  await form.getByLabel('Memory reserved').fill('32MiB');
  await form.getByRole('button', { name: 'Create service' }).click();

  // Its page: the replicas come up and turn healthy without a reload.
  await expect(page).toHaveURL(/\/services\/e2e-shop$/);
  await page.evaluate(() => ((window as any).berthMarker = 1));
  const state = page.locator('section[data-phase]');
  await expect(state).toHaveAttribute('data-ready', '2/2', { timeout: 60_000 });
  await expect(state).toHaveAttribute('data-phase', 'running');
  const rows = page.locator('table.replicas tbody tr');
  await expect(rows).toHaveCount(2);
  for (const row of await rows.all()) {
    await expect(row).toHaveAttribute('data-health', 'healthy');
  }

  // Scale with the control: 2 -> 4 with the field, then one fewer with "−".
  const scale = page.getByRole('form', { name: 'Scale' });
  await scale.getByLabel('Replicas').fill('4');
  await scale.getByRole('button', { name: 'Scale', exact: true }).click();
  await expect(page.getByText('Scaled e2e-shop to 4.')).toBeVisible();
  await expect(state).toHaveAttribute('data-ready', '4/4', { timeout: 60_000 });
  await expect(rows).toHaveCount(4);
  await scale.getByRole('button', { name: 'One replica fewer' }).click();
  await scale.getByRole('button', { name: 'Scale', exact: true }).click();
  await expect(state).toHaveAttribute('data-ready', '3/3', { timeout: 60_000 });
  await expect(rows).toHaveCount(3, { timeout: 30_000 });
  expect(await page.evaluate(() => (window as any).berthMarker)).toBe(1);

  // What happened is on the page, and the dashboard counts it.
  await expect(page.getByText(/scaled 4 -> 3 by admin/)).toBeVisible();
  const nav = page.getByRole('navigation', { name: 'Main' });
  await nav.getByRole('link', { name: 'Dashboard' }).click();
  const running = page.locator('[data-stat="running"] .stat-value');
  await expect(running).toHaveText(/^[1-9][0-9]*$/);
  await expect(page.locator('[data-stat="services"] .stat-detail')).toContainText('replicas ready');

  // The services page finds it by part of its name, one page of one.
  await nav.getByRole('link', { name: 'Services', exact: true }).click();
  const filter = page.getByRole('searchbox', { name: 'Name' });
  await filter.fill('E2E!');
  await expect(filter).toHaveAttribute('aria-invalid', 'true');
  await expect(page.locator('#service-filter-problem')).toContainText('lowercase letters');
  await filter.fill('e2e-sho');
  await expect(filter).toHaveAttribute('aria-invalid', 'false');
  const row = page.locator('table.services tr[data-service="e2e-shop"]');
  await expect(row).toHaveAttribute('data-phase', 'running');
  await expect(row).toContainText('3 / 3');
  await expect(page.locator('table.services tbody tr')).toHaveCount(1);
  await expect(page.locator('.pager-count')).toHaveText('1–1 of 1');
  await expect(page.getByRole('button', { name: 'Next' })).toBeDisabled();

  // Delete it (asked twice).
  await row.getByRole('link', { name: 'e2e-shop' }).click();
  await page.getByRole('button', { name: 'Delete service' }).click();
  await page.getByRole('group').getByRole('button', { name: 'Delete service' }).click();
  await expect(page).toHaveURL(/\/services$/);
  await expect(page.locator('tr[data-service="e2e-shop"]')).toHaveCount(0);
});
