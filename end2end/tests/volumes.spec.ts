import { expect, test } from '@playwright/test';
import { ADMIN, loginAs, openHydrated } from './helpers';

test('a volume added in the form is made with the replicas and shown on the volumes page', async ({ page, baseURL }) => {
  await loginAs(page, ADMIN.username, ADMIN.password);
  const headers = { origin: baseURL! };
  const team = await page.request.post('/api/v1/teams', { data: { name: 'keepers' }, headers });
  expect([201, 409]).toContain(team.status());

  await openHydrated(page, '/services');
  const form = page.getByRole('form', { name: 'New service' });
  await form.getByLabel('Name', { exact: true }).fill('e2e-vol');
  await form.getByLabel('Team').selectOption('keepers');
  await form.getByLabel('Replicas').fill('2');
  await form.getByLabel('Image').fill('127.0.0.1:5000/berth-demo:v1');
  await form.getByLabel('Container port').fill('8080');
  // A relative mount path is refused before anything is sent.
  await form.getByLabel(/^Volumes/).fill('data:var/data');
  await form.getByRole('button', { name: 'Create service' }).click();
  await expect(page.getByRole('alert')).toContainText('invalid mount path "var/data"');
  await form.getByLabel(/^Volumes/).fill('data:/var/data');
  await form.getByRole('button', { name: 'Create service' }).click();

  // The service page lists one volume per replica, each used by its replica.
  await expect(page).toHaveURL(/\/services\/e2e-vol$/);
  await expect(page.locator('section[data-phase]')).toHaveAttribute('data-ready', '2/2', { timeout: 60_000 });
  const panel = page.getByRole('region', { name: 'Volumes' });
  await expect(panel.locator('tr[data-volume]')).toHaveCount(2, { timeout: 20_000 });
  await expect(panel.locator('tr[data-volume$=".e2e-vol.data.1"]')).toContainText('replica 1');

  // The volumes page: per host, and by service.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Volumes' }).click();
  await expect(page).toHaveURL(/\/volumes$/);
  const rows = page.locator('table.volumes tbody tr[data-volume*=".e2e-vol."]');
  await expect(rows).toHaveCount(2);
  await expect(rows.first()).toContainText('/var/data');
  await expect(page.getByRole('list', { name: 'Volumes per host' })).toBeVisible();

  // Deleted with its service, volumes kept: they stay listed, and an admin deletes them.
  const gone = await page.request.delete('/api/v1/services/e2e-vol', { headers });
  expect(gone.status()).toBe(204);
  const deletable = page.locator('table.volumes tbody tr[data-volume*=".e2e-vol."][data-deletable="true"]');
  await expect(deletable).toHaveCount(2, { timeout: 30_000 });
  await expect(deletable.first()).toContainText('(deleted)');
  for (let i = 0; i < 2; i++) {
    const row = deletable.first();
    await row.getByRole('button', { name: 'Delete' }).click();
    await row.getByRole('group').getByRole('button', { name: 'Delete' }).click();
    await expect(page.getByText(/Deleted volume berth_[0-9a-f]+_\d+\.e2e-vol\.data\.\d/)).toBeVisible();
    await expect(deletable).toHaveCount(1 - i, { timeout: 15_000 });
  }
});
