import { expect, test } from '@playwright/test';
import * as path from 'path';
import { ADMIN, loginAs, openHydrated } from './helpers';

// The provider that makes a Docker daemon on this machine for each new host.
const PROVIDER = path.resolve(__dirname, '../../scripts/pool-provider');

test('an admin adds a pool, watches a host being made for a waiting service, and retires it', async ({ page, baseURL }) => {
  await loginAs(page, ADMIN.username, ADMIN.password);
  const headers = { origin: baseURL! };
  await openHydrated(page, '/pools');
  await expect(page.getByRole('heading', { name: 'Host pools' })).toBeVisible();

  const form = page.getByRole('form', { name: 'Pool' });
  await form.getByLabel('Name').fill('e2e-pool');
  // A relative command is refused before anything is sent.
  await form.getByLabel(/^Provider command/).fill('pool-provider');
  await form.getByLabel('Labels of its hosts').fill('pool=e2e-pool');
  await form.getByLabel('Max hosts').fill('2');
  await form.getByRole('button', { name: 'Add pool' }).click();
  await expect(form.locator('..').getByRole('alert')).toContainText('absolute path');
  await form.getByLabel(/^Provider command/).fill(PROVIDER);
  await form.getByLabel('Memory of one host').fill('2GiB');
  await form.getByRole('button', { name: 'Add pool' }).click();
  await expect(page.getByText('Pool e2e-pool added.')).toBeVisible();
  const panel = page.getByRole('region', { name: 'Pool e2e-pool' });
  await expect(panel).toContainText('No host now');

  // A service that only a host of this pool takes.
  const team = await page.request.post('/api/v1/teams', { data: { name: 'poolers' }, headers });
  expect([201, 409]).toContain(team.status());
  const created = await page.request.post('/api/v1/services', {
    headers,
    data: {
      name: 'e2e-pooled', team: 'poolers', replicas: 1,
      spec: { image: '127.0.0.1:5000/berth-demo:v1', port: 8080, placement: { constraints: ['pool=e2e-pool'] },
              health: { kind: 'http', path: '/healthz', interval_ms: 500 } },
    },
  });
  expect(created.status()).toBe(201);

  // The page shows the host being made, then ready, without a reload.
  const host = panel.locator('tr[data-pool-host^="e2e-pool-"]');
  await expect(host).toHaveCount(1, { timeout: 20_000 });
  await expect(host).toHaveAttribute('data-state', 'ready', { timeout: 60_000 });
  const name = await host.getAttribute('data-pool-host');
  await openHydrated(page, '/services/e2e-pooled');
  await expect(page.locator('section[data-phase]')).toHaveAttribute('data-ready', '1/1', { timeout: 60_000 });
  await expect(page.getByRole('cell', { name: name! })).toBeVisible();

  // Retired once nothing needs it: drained, destroyed, gone from the page.
  expect((await page.request.delete('/api/v1/services/e2e-pooled', { headers })).status()).toBe(204);
  await openHydrated(page, '/pools');
  await host.getByRole('button', { name: 'Retire' }).click();
  await host.getByRole('group').getByRole('button', { name: 'Retire' }).click();
  await expect(page.getByText(`Host ${name} retired`)).toBeVisible();
  await expect(panel.locator('tr[data-pool-host]')).toHaveCount(0, { timeout: 60_000 });
  await expect(panel).toContainText('No host now');

  // The pool goes too, from the page.
  await panel.getByRole('button', { name: 'Delete' }).click();
  await panel.getByRole('group').getByRole('button', { name: 'Delete' }).click();
  await expect(page.getByText('Pool e2e-pool deleted.')).toBeVisible();
  await expect(panel).toHaveCount(0);
});
