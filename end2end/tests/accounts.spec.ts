import { expect, test } from '@playwright/test';
import { ADMIN, loginAs, loginWithForm, openHydrated } from './helpers';

test('pages need a login and the login form says what went wrong', async ({ page }) => {
  await page.goto('/users');
  await expect(page).toHaveURL(/\/login\?next=\/users$/);
  await openHydrated(page, '/login?next=/users');
  await page.getByLabel('User name').fill(ADMIN.username);
  await page.getByLabel('Password').fill('not-the-password');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByRole('alert')).toHaveText('wrong user name or password');
  await page.getByLabel('Password').fill(ADMIN.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  // Back where they wanted to go.
  await expect(page).toHaveURL(/\/users$/);
  await expect(page.getByRole('heading', { level: 1, name: 'Users' })).toBeVisible();
});

test('an admin creates a team and a user; the user sees only what the role allows', async ({ page }) => {
  page.on('dialog', (d) => {
    throw new Error(`a dialog opened: ${d.message()}`);
  });
  await loginAs(page, ADMIN.username, ADMIN.password);

  // A team.
  await openHydrated(page, '/teams');
  await page.getByLabel('Team name').fill('web');
  await page.getByRole('button', { name: 'Create team' }).click();
  await expect(page.getByText('Created team web.')).toBeVisible();

  // A user name with markup is refused, and the refusal shows it as text.
  await openHydrated(page, '/users');
  await page.getByLabel('User name').fill('<script>window.pwned=1</script>');
  await page.getByLabel('Password').fill('carol-password');
  await page.getByRole('button', { name: 'Create user' }).click();
  await expect(page.getByRole('alert')).toContainText('invalid user name "<script>window.pwned=1</script>"');
  expect(await page.evaluate(() => (window as any).pwned)).toBeUndefined();

  // A real user.
  await page.getByLabel('User name').fill('carol');
  await page.getByLabel('Password').fill('carol-password');
  await page.getByRole('button', { name: 'Create user' }).click();
  await expect(page.getByText('Created carol (member).')).toBeVisible();
  await expect(page.locator('tr[data-user="carol"]')).toBeVisible();

  // Into the team, as a viewer.
  await openHydrated(page, '/teams');
  const web = page.locator('section[data-team="web"]');
  await web.getByLabel('User').selectOption({ label: 'carol' });
  await web.getByRole('button', { name: 'Add member' }).click();
  await expect(web.locator('tr[data-member="carol"]')).toContainText('viewer');

  // Carol logs in: no administration, her team only, users refused in words.
  await page.getByRole('button', { name: 'Log out' }).click();
  await expect(page).toHaveURL(/\/login/);
  await loginWithForm(page, 'carol', 'carol-password');
  const nav = page.getByRole('navigation', { name: 'Main' });
  await expect(nav.getByRole('link', { name: 'Teams' })).toBeVisible();
  await expect(nav.getByRole('link', { name: 'Users' })).toHaveCount(0);
  await expect(nav.getByRole('link', { name: 'Audit log' })).toHaveCount(0);
  await openHydrated(page, '/teams');
  await expect(page.locator('section[data-team]')).toHaveCount(1);
  await expect(page.getByRole('button', { name: 'Create team' })).toHaveCount(0);
  await openHydrated(page, '/users');
  await expect(page.getByRole('alert')).toContainText('only cluster admins manage users');
});

test('a token made in the settings works against the API and can be revoked', async ({ page, playwright }) => {
  await loginAs(page, ADMIN.username, ADMIN.password);
  await openHydrated(page, '/settings');
  await page.getByLabel('Token name').fill('e2e reader');
  await page.getByLabel('Read-only').check();
  await page.getByRole('button', { name: 'Create token' }).click();
  const token = (await page.getByTestId('new-token').textContent())!.trim();
  expect(token).toMatch(/^berth_/);
  await expect(page.locator('tr[data-token="e2e reader"]')).toContainText('read-only');

  const api = await playwright.request.newContext({ baseURL: page.url(), extraHTTPHeaders: { Authorization: `Bearer ${token}` } });
  const me = await api.get('/api/v1/me');
  expect(me.status()).toBe(200);
  expect((await me.json()).read_only).toBe(true);
  expect((await api.post('/api/v1/teams', { data: { name: 'nope' } })).status()).toBe(403);

  const row = page.locator('tr[data-token="e2e reader"]');
  await row.getByRole('button', { name: 'Revoke' }).click();
  await row.getByRole('button', { name: 'Revoke' }).click();
  await expect(page.getByText('Revoked token e2e reader.')).toBeVisible();
  expect((await api.get('/api/v1/me')).status()).toBe(401);
  await api.dispose();
});

test('settings list the instances: this one leads, and taking the lead is an event', async ({ page }) => {
  await loginAs(page, ADMIN.username, ADMIN.password);
  const ready = await (await page.request.get('/readyz')).json();
  expect(ready.leader).toBe(true);
  await openHydrated(page, '/settings');
  const instances = page.locator('section', { has: page.getByRole('heading', { name: 'Instances' }) });
  const row = instances.locator('tbody tr', { hasText: ready.instance });
  await expect(row).toContainText('this one');
  await expect(row).toContainText('leader');
  await expect(row).toContainText(/just now|s ago/);

  await openHydrated(page, '/events');
  await page.locator('select[name=kind]').selectOption('instance');
  await expect(page.getByText(`instance ${ready.instance}`).first()).toContainText('leads now (term');
});
