// Shared steps: open a page and wait until the WASM has taken it over.
import { expect, Page } from '@playwright/test';

/** Opens `path` and waits for hydration (the app marks itself `data-hydrated="true"`). */
export async function openHydrated(page: Page, path: string) {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(path);
  await expect(page.locator('.layout'), `hydration of ${path}; page errors: ${errors.join('; ')}`)
    .toHaveAttribute('data-hydrated', 'true');
  return errors;
}

/** How many engines the running Berth was given (scripts/e2e exports it). */
export function expectedEngines(): number {
  const n = Number(process.env.BERTH_E2E_ENGINES ?? '3');
  if (!Number.isInteger(n) || n < 1) throw new Error(`BERTH_E2E_ENGINES is not a count: ${n}`);
  return n;
}
