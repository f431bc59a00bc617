import { expect, test } from '@playwright/test';
import { ADMIN, loginAs, openHydrated } from './helpers';

test('a host page says what losing the host would do, and the dashboard checks N-1', async ({ page, baseURL }) => {
  await loginAs(page, ADMIN.username, ADMIN.password);
  const headers = { origin: baseURL! };
  const team = await page.request.post('/api/v1/teams', { data: { name: 'whatif' }, headers });
  expect([201, 409]).toContain(team.status());
  // Two replicas, spread: one on each of the two hosts Berth started with.
  const created = await page.request.post('/api/v1/services', {
    headers,
    data: {
      name: 'e2e-whatif', team: 'whatif', replicas: 2,
      spec: { image: '127.0.0.1:5000/berth-demo:v1', port: 8080, placement: { strategy: 'spread' } },
    },
  });
  expect(created.status()).toBe(201);
  try {
    await openHydrated(page, '/services/e2e-whatif');
    await expect(page.locator('section[data-phase]')).toHaveAttribute('data-ready', '2/2', { timeout: 60_000 });
    const on = await page.request.get('/api/v1/services/e2e-whatif', { headers });
    const replicas = (await on.json()).service.instances as { slot: number; host: string }[];
    const lost = replicas[0];

    // The host's page: the question, pending, then the answer in a table.
    await openHydrated(page, `/hosts/${lost.host}`);
    const panel = page.locator('section[data-whatif]');
    await expect(panel.getByRole('heading', { name: 'If this host were lost' })).toBeVisible();
    await panel.getByRole('button', { name: 'What if it is lost?' }).click();
    const answer = panel.locator('.whatif-answer');
    await expect(answer).toHaveAttribute('data-whole', /true|false/, { timeout: 10_000 });
    const row = answer.locator(`table.whatif-moves tr[data-service="e2e-whatif"][data-slot="${lost.slot}"]`);
    await expect(row).toBeVisible();
    const to = (await row.locator('td').nth(1).innerText()).trim();
    expect(to).not.toBe(lost.host);
    // The answer stays while the page polls the host (every 2 s).
    await page.waitForResponse((r) => r.url().includes('/api/get_host'), { timeout: 10_000 });
    await expect(answer.locator(`tr[data-service="e2e-whatif"]`)).toBeVisible();

    // Other hosts lost with it: checked before anything is sent, then both lost.
    const other = replicas[1].host;
    const also = panel.getByLabel('Other hosts lost with it (optional)');
    await also.fill('H9');
    await panel.getByRole('button', { name: 'What if it is lost?' }).click();
    await expect(panel.getByRole('alert')).toContainText('invalid host name "H9"');
    await also.fill(other);
    await panel.getByRole('button', { name: 'What if it is lost?' }).click();
    await expect(panel.getByRole('alert')).toHaveCount(0);
    await expect(answer.locator('tr[data-service="e2e-whatif"]')).toHaveCount(2, { timeout: 10_000 });

    // The dashboard's N-1 check names its verdict in words.
    await openHydrated(page, '/');
    const check = page.locator('section[data-loss-check]');
    await expect(check.getByRole('heading', { name: 'Losing one host' })).toBeVisible({ timeout: 10_000 });
    await expect(check).toContainText(/Losing any one of the \d+ hosts would cost no service a replica\.|Losing \d+ of the \d+ hosts would cost some service replicas:/);
  } finally {
    expect((await page.request.delete('/api/v1/services/e2e-whatif', { headers })).status()).toBe(204);
  }
});
