import { expect, test } from '@playwright/test';
import { ADMIN, loginAs, loginWithForm, openHydrated } from './helpers';

// The folder every test host's rclone plugin reaches (scripts/hosts env).
const SHARED = process.env.BERTH_TEST_SHARED || '/var/lib/berth-hosts/shared';

test('an admin adds a volume class, an operator uses it in the create form, the volumes page shows it', async ({ page, baseURL }) => {
  await loginAs(page, ADMIN.username, ADMIN.password);
  const headers = { origin: baseURL! };
  const team = await page.request.post('/api/v1/teams', { data: { name: 'classy' }, headers });
  expect([201, 409]).toContain(team.status());
  const teamId = (await (await page.request.get('/api/v1/teams')).json()).find((t: any) => t.name === 'classy').id;
  const user = await page.request.post('/api/v1/users', {
    headers, data: { username: 'olga', password: 'olga-password', role: 'member' },
  });
  expect(user.status()).toBe(201);
  const member = await page.request.put(`/api/v1/teams/${teamId}/members/${(await user.json()).id}`, {
    headers, data: { role: 'operator' },
  });
  expect(member.status()).toBe(200);

  // The admin adds a class on the volumes page; a bad name is refused before it is sent.
  await openHydrated(page, '/volumes');
  const form = page.getByRole('form', { name: 'Volume class' });
  await form.getByLabel('Name', { exact: true }).fill('Shared Disk');
  await form.getByLabel('Driver', { exact: true }).fill('rclone');
  await form.getByLabel('Scope').selectOption('global');
  await form.getByLabel('Teams that may use it').fill('classy');
  await form.getByLabel(/^Driver options/).fill(`remote=:local:${SHARED}/{volume}\nallow-other=true`);
  await form.getByRole('button', { name: 'Add class' }).click();
  await expect(page.getByRole('alert')).toContainText('invalid volume class "Shared Disk"');
  await form.getByLabel('Name', { exact: true }).fill('e2e-shared');
  await form.getByRole('button', { name: 'Add class' }).click();
  await expect(page.getByText('Volume class e2e-shared added.')).toBeVisible();
  const row = page.locator('tr[data-class="e2e-shared"]');
  await expect(row).toContainText('global: follows its replica');
  // Every host the e2e Berth has runs rclone's plugin.
  await expect(row).toContainText(/([1-9]) of \1 hosts?/i, { timeout: 10_000 });

  // The operator sees the class under the volumes field and uses it.
  await page.getByRole('button', { name: 'Log out' }).click();
  await expect(page).toHaveURL(/\/login/);
  await loginWithForm(page, 'olga', 'olga-password');
  await openHydrated(page, '/services');
  const create = page.getByRole('form', { name: 'New service' });
  await expect(create.locator('[data-classes]')).toContainText('e2e-shared (rclone, global)');
  await create.getByLabel('Name', { exact: true }).fill('e2e-follow');
  await create.getByLabel('Team').selectOption('classy');
  await create.getByLabel('Replicas').fill('1');
  await create.getByLabel('Image').fill('127.0.0.1:5000/berth-demo:v1');
  await create.getByLabel('Container port').fill('8080');
  await create.getByLabel(/^Volumes/).fill('data:/data class=e2e-shared');
  await create.getByRole('button', { name: 'Create service' }).click();
  await expect(page).toHaveURL(/\/services\/e2e-follow$/);
  await expect(page.locator('section[data-phase]')).toHaveAttribute('data-ready', '1/1', { timeout: 60_000 });

  // The volumes page shows the volume with its class, scope and driver.
  await openHydrated(page, '/volumes');
  const vol = page.locator('table.volumes tbody tr[data-volume*=".e2e-follow."]');
  await expect(vol).toHaveCount(1, { timeout: 20_000 });
  await expect(vol).toContainText('e2e-shared');
  await expect(vol).toContainText('global');
  await expect(vol).toContainText('rclone');
  await expect(vol).toContainText('replica 1');
  // An operator sees the class, not its options (where the data lives).
  await expect(page.locator('tr[data-class="e2e-shared"]')).not.toContainText('remote=');

  const gone = await page.request.delete('/api/v1/services/e2e-follow?volumes=delete', { headers });
  expect(gone.status()).toBe(204);
});
