import { expect, test } from '@playwright/test';
import { ADMIN, loginAs, openHydrated, spareHost } from './helpers';

test.beforeEach(async ({ page }) => {
  await loginAs(page, ADMIN.username, ADMIN.password);
});

test('an admin adds a host through the form, cordons it and sees the state change', async ({ page }) => {
  const spare = spareHost();
  await openHydrated(page, '/hosts');
  const form = page.getByRole('form', { name: 'Add a host' });

  // The form checks before it submits.
  await form.getByLabel('Name', { exact: true }).fill(spare.name);
  await form.getByLabel('Docker endpoint').fill('ftp://nowhere');
  await form.getByRole('button', { name: 'Add host' }).click();
  await expect(page.getByRole('alert')).toContainText('invalid endpoint "ftp://nowhere"');

  // Berth connects before it saves, and says why it cannot.
  await form.getByLabel('Docker endpoint').fill('unix:///nonexistent/docker.sock');
  await form.getByRole('button', { name: 'Add host' }).click();
  await expect(page.getByRole('alert')).toContainText('cannot reach Docker at unix:///nonexistent/docker.sock');

  // The real one.
  await form.getByLabel('Docker endpoint').fill(spare.endpoint);
  await form.getByLabel('Address of published ports').fill(spare.address);
  await form.getByLabel('Labels').fill('zone=b, disk=ssd');
  await form.getByRole('button', { name: 'Add host' }).click();
  await expect(page.getByText(`Added host ${spare.name} (ready).`)).toBeVisible();
  const row = page.locator(`tr[data-host="${spare.name}"]`);
  await expect(row).toHaveAttribute('data-state', 'ready');
  await expect(row).toContainText('zone=b');

  // Its page: cordon, and the state changes without a reload.
  await row.getByRole('link', { name: spare.name }).click();
  await expect(page).toHaveURL(new RegExp(`/hosts/${spare.name}$`));
  const state = page.locator('[data-host-state]');
  await expect(state).toHaveAttribute('data-host-state', 'ready');
  await page.getByRole('button', { name: 'Cordon' }).click();
  await expect(state).toHaveAttribute('data-host-state', 'cordoned');
  await expect(page.getByText(`${spare.name} is cordoned now.`)).toBeVisible();
  await page.getByRole('button', { name: 'Uncordon' }).click();
  await expect(state).toHaveAttribute('data-host-state', 'ready');

  // The containers of the host are listed, and the events say what happened.
  await expect(page.getByRole('heading', { name: 'Containers' })).toBeVisible();
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Events' }).click();
  await expect(page.getByText(`host ${spare.name} cordoned: it takes no new replicas`)).toBeVisible();
});
