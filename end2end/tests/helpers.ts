// Shared steps: log in, open a page and wait until the WASM has taken it over.
import { expect, Page } from '@playwright/test';

/** The first admin, created through the UI by first-run.spec.ts. */
export const ADMIN = { username: 'admin', password: 'admin-password-1' };

/** Opens `path` and waits for hydration (the app marks itself `data-hydrated="true"`). */
export async function openHydrated(page: Page, path: string) {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(path);
  await expect(page.locator('.layout'), `hydration of ${path}; page errors: ${errors.join('; ')}`)
    .toHaveAttribute('data-hydrated', 'true');
  return errors;
}

/** Logs in through the API; the browser context keeps the session cookie. */
export async function loginAs(page: Page, username: string, password: string) {
  const response = await page.request.post('/api/v1/auth/login', { data: { username, password } });
  expect(response.status(), `login as ${username}`).toBe(200);
}

/** Logs in through the login form. */
export async function loginWithForm(page: Page, username: string, password: string) {
  await openHydrated(page, '/login');
  await page.getByLabel('User name').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByTestId('current-user')).toHaveText(username);
}

/** How many engines the running Berth was given (scripts/e2e exports it). */
export function expectedEngines(): number {
  const n = Number(process.env.BERTH_E2E_ENGINES ?? '3');
  if (!Number.isInteger(n) || n < 1) throw new Error(`BERTH_E2E_ENGINES is not a count: ${n}`);
  return n;
}

/** The test host that Berth was not started with, for the form to add. */
export function spareHost(): { name: string; endpoint: string; address: string } {
  const spec = process.env.BERTH_E2E_SPARE_HOST ?? 'h3=unix:///run/berth-hosts/h3/docker.sock@127.0.0.13';
  const [name, rest] = spec.split(/=(.*)/s);
  const at = rest.lastIndexOf('@');
  return { name, endpoint: rest.slice(0, at), address: rest.slice(at + 1) };
}
