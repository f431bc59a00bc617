import { expect, test } from '@playwright/test';
import { ADMIN, loginAs, loginWithForm, openHydrated } from './helpers';

test('a team keeps secrets: added, replaced, where used, never shown again', async ({ page, baseURL }) => {
  await loginAs(page, ADMIN.username, ADMIN.password);
  const headers = { origin: baseURL! };
  const team = await page.request.post('/api/v1/teams', { data: { name: 'vaulted' }, headers });
  expect(team.status()).toBe(201);
  const teamId = (await team.json()).id;

  await openHydrated(page, `/secrets?team=${teamId}`);
  await expect(page.getByRole('heading', { level: 1, name: 'Secrets' })).toBeVisible();
  const panel = page.locator('section[data-team="vaulted"]');
  await expect(panel.getByText('No secrets yet')).toBeVisible();

  // Checked before it goes: a bad name, an empty value.
  await panel.getByLabel('Name').fill('Bad Name');
  await panel.getByLabel('Value').fill('x');
  await panel.getByRole('button', { name: 'Save secret' }).click();
  await expect(panel.getByRole('alert')).toContainText('invalid secret name');
  await panel.getByLabel('Name').fill('db-password');
  await panel.getByLabel('Value').fill('');
  await panel.getByRole('button', { name: 'Save secret' }).click();
  await expect(panel.getByRole('alert')).toContainText('needs a value');

  // Added: the value leaves the page at once and is never shown again.
  const first = `pw-${Date.now()}-first`;
  await panel.getByLabel('Value').fill(first);
  await panel.getByRole('button', { name: 'Save secret' }).click();
  await expect(page.getByText('Secret db-password is at version 1.')).toBeVisible();
  await expect(panel.getByLabel('Value')).toHaveValue('');
  const row = panel.locator('tr[data-secret="db-password"]');
  await expect(row).toContainText('v1');
  await expect(row).toContainText('nothing');

  // A service takes it; the page says where it is used, without a reload.
  const created = await page.request.post('/api/v1/services', {
    headers,
    data: {
      name: 'e2e-secret', team: 'vaulted', replicas: 1,
      spec: {
        image: '127.0.0.1:5000/berth-demo:v1', port: 8080, health: { kind: 'http', path: '/healthz' },
        env: { DB_PASSWORD: { secret: 'db-password' } },
      },
    },
  });
  expect(created.status(), await created.text()).toBe(201);

  // Replaced: a new version, and the service rolls out to it.
  const second = `pw-${Date.now()}-second`;
  await panel.getByLabel('Name').fill('db-password');
  await panel.getByLabel('Value').fill(second);
  await panel.getByRole('button', { name: 'Save secret' }).click();
  await expect(page.getByText('Secret db-password is at version 2; rolling out e2e-secret.')).toBeVisible();
  await expect(row).toContainText('v2');
  await expect(row.getByRole('link', { name: 'e2e-secret' })).toBeVisible();
  await expect(row).toContainText('in use');

  // Nowhere on the page, nor in the service's.
  for (const value of [first, second]) {
    expect(await page.content()).not.toContain(value);
  }
  await openHydrated(page, '/services/e2e-secret');
  await expect(page.getByText('secret db-password changed: version 1 → 2').first()).toBeVisible({ timeout: 30_000 });
  for (const value of [first, second]) {
    expect(await page.content()).not.toContain(value);
  }

  const gone = await page.request.delete('/api/v1/services/e2e-secret', { headers });
  expect(gone.status()).toBe(204);
  await openHydrated(page, `/secrets?team=${teamId}`);
  await row.getByRole('button', { name: 'Delete' }).click();
  await row.getByRole('group').getByRole('button', { name: 'Delete' }).click();
  await expect(page.getByText('Deleted secret db-password.')).toBeVisible();
  await expect(panel.getByText('No secrets yet')).toBeVisible();
});

test('admins give teams domains; a route on another team\'s host says whose it is', async ({ page, baseURL }) => {
  await loginAs(page, ADMIN.username, ADMIN.password);
  const headers = { origin: baseURL! };
  for (const name of ['shops', 'rivals']) {
    const r = await page.request.post('/api/v1/teams', { data: { name }, headers });
    expect(r.status()).toBe(201);
  }

  // On the Teams page: a bad domain is refused before it goes; a good one shows.
  await openHydrated(page, '/teams');
  const shops = page.locator('section[data-team="shops"]');
  await shops.getByRole('textbox', { name: 'Domain', exact: true }).fill('*.com');
  await shops.getByRole('button', { name: 'Add domain' }).click();
  await expect(shops.getByRole('alert')).toContainText('invalid domain');
  await shops.getByRole('textbox', { name: 'Domain', exact: true }).fill('shop.example.com');
  await shops.getByRole('button', { name: 'Add domain' }).click();
  await expect(page.getByText("Team shops's routes may use shop.example.com.")).toBeVisible();
  await expect(shops.locator('li[data-domain="shop.example.com"]')).toBeVisible();
  // The server refuses an overlap, in words.
  const rivals = page.locator('section[data-team="rivals"]');
  await rivals.getByRole('textbox', { name: 'Domain', exact: true }).fill('*.example.com');
  await rivals.getByRole('button', { name: 'Add domain' }).click();
  await expect(page.getByRole('alert').filter({ hasText: 'overlaps shop.example.com of team shops' })).toBeVisible();

  // A member of rivals tries to route shop.example.com to their service.
  const user = await page.request.post('/api/v1/users', {
    headers, data: { username: 'rita', password: 'rita-password', role: 'member' },
  });
  expect(user.status()).toBe(201);
  const rivalsId = (await (await page.request.get('/api/v1/teams')).json()).find((t: any) => t.name === 'rivals').id;
  const member = await page.request.put(`/api/v1/teams/${rivalsId}/members/${(await user.json()).id}`, {
    headers, data: { role: 'operator' },
  });
  expect(member.status()).toBe(200);
  const svc = await page.request.post('/api/v1/services', {
    headers,
    data: { name: 'e2e-rival', team: 'rivals', replicas: 0, spec: { image: '127.0.0.1:5000/berth-demo:v1', port: 8080 } },
  });
  expect(svc.status()).toBe(201);

  await page.getByRole('button', { name: 'Log out' }).click();
  await expect(page).toHaveURL(/\/login/);
  await loginWithForm(page, 'rita', 'rita-password');
  await openHydrated(page, '/services/e2e-rival');
  const routes = page.getByRole('form', { name: 'Routes' });
  await routes.getByLabel('Routes').fill('shop.example.com/api');
  await routes.getByRole('button', { name: 'Save routes' }).click();
  await expect(page.getByRole('alert').filter({ hasText: 'shop.example.com belongs to team shops' })).toBeVisible();
  // Kept off the proxy: the service says so.
  await routes.getByLabel('Routes').fill('');
  await routes.getByLabel('On the proxy').uncheck();
  await routes.getByRole('button', { name: 'Save routes' }).click();
  await expect(page.locator('dd').filter({ hasText: 'kept off the proxy' })).toBeVisible();

  await page.getByRole('button', { name: 'Log out' }).click();
  await expect(page).toHaveURL(/\/login/);
  await loginAs(page, ADMIN.username, ADMIN.password);
  const gone = await page.request.delete('/api/v1/services/e2e-rival', { headers });
  expect(gone.status()).toBe(204);
});
