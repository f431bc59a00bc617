import { expect, test } from '@playwright/test';
import { ADMIN, openHydrated } from './helpers';

test('a fresh Berth asks for the first admin, then logs them in', async ({ page }) => {
  // Every page leads to the setup page while nobody has an account.
  await page.goto('/hosts');
  await expect(page).toHaveURL(/\/setup$/);
  await openHydrated(page, '/setup');
  await expect(page.getByRole('heading', { level: 1, name: 'Create the first admin' })).toBeVisible();

  // The form checks before it submits.
  await page.getByLabel('User name').fill(ADMIN.username);
  await page.getByLabel('Password', { exact: true }).fill('short');
  await page.getByLabel('Password again').fill('short');
  await page.getByRole('button', { name: 'Create admin and log in' }).click();
  await expect(page.getByRole('alert')).toContainText('at least 8 characters');

  await page.getByLabel('Password', { exact: true }).fill(ADMIN.password);
  await page.getByLabel('Password again').fill(ADMIN.password);
  await page.getByRole('button', { name: 'Create admin and log in' }).click();
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByTestId('current-user')).toHaveText(ADMIN.username);

  // Setup is done for good.
  await page.goto('/setup');
  await expect(page).toHaveURL(/\/$/);
});
