import { expect, test } from '@playwright/test';
import { ADMIN, loginAs, openHydrated } from './helpers';

const PROXY = process.env.BERTH_PROXY_URL ?? 'http://127.0.0.1:8080';

// The e2e Berth takes a step of history every second (BERTH_HISTORY_EVERY=1s).
test('the last hour is drawn on the service, host and proxy pages and moves without a reload', async ({ page, baseURL }) => {
  await loginAs(page, ADMIN.username, ADMIN.password);
  const headers = { origin: baseURL! };
  const team = await page.request.post('/api/v1/teams', { data: { name: 'charts' }, headers });
  expect([201, 409]).toContain(team.status());
  const created = await page.request.post('/api/v1/services', {
    headers,
    data: {
      name: 'e2e-history', team: 'charts', replicas: 1,
      spec: { image: '127.0.0.1:5000/berth-demo:v1', port: 8080, health: { kind: 'http', path: '/healthz' } },
    },
  });
  expect(created.status()).toBe(201);
  try {
    await openHydrated(page, '/services/e2e-history');
    await expect(page.locator('section[data-phase]')).toHaveAttribute('data-ready', '1/1', { timeout: 60_000 });
    await page.evaluate(() => ((window as any).berthMarker = 1));
    const panel = page.locator('section[data-history="service"]');
    await expect(panel.getByRole('heading', { name: 'Last hour' })).toBeVisible();

    // Traffic through the proxy: the requests chart draws it.
    for (let i = 0; i < 30; i++) {
      const r = await page.request.get(`${PROXY}/healthz`, { headers: { host: 'e2e-history.localhost' } });
      expect(r.status()).toBe(200);
    }
    const rps = panel.locator('figure[data-chart="rps"]');
    await expect(rps.locator('svg')).toHaveAttribute('aria-label', /Requests per second: .* at most in the last hour/, { timeout: 15_000 });
    await expect(rps.locator('.spark-line')).toHaveAttribute('d', /^M/);
    // Memory of the replica: a line of its own in the replicas' table.
    const replica = panel.locator('table.replica-history tr[data-slot="1"] svg').nth(1);
    await expect(replica).toHaveAttribute('aria-label', /Memory of replica 1: .* now/, { timeout: 15_000 });

    // The charts move on their own: more points a few seconds later, same page.
    const points = async () => Number(await panel.locator('figure[data-chart="memory"] svg').getAttribute('data-points'));
    await expect.poll(points, { timeout: 15_000 }).toBeGreaterThan(0);
    const before = await points();
    await expect.poll(points, { timeout: 20_000 }).toBeGreaterThan(before);
    expect(await page.evaluate(() => (window as any).berthMarker)).toBe(1);

    // The host's page: the replicas on it added up.
    const on = await page.request.get('/api/v1/services/e2e-history', { headers });
    const host = ((await on.json()).service.instances as { host: string }[])[0].host;
    await openHydrated(page, `/hosts/${host}`);
    const hostPanel = page.locator('section[data-history="host"]');
    await expect(hostPanel.locator('figure[data-chart="memory"] svg')).toHaveAttribute('aria-label', /Memory of the replicas: .* now/, { timeout: 15_000 });
    await expect(hostPanel.locator('figure[data-chart="replicas"] .chart-now')).toHaveText(/^[1-9]\d*$/);

    // The proxy's page: a row for the service with its requests' line.
    await openHydrated(page, '/proxy');
    const row = page.locator('section[data-history="proxy"] tr[data-service="e2e-history"]');
    await expect(row.locator('svg').first()).toHaveAttribute('aria-label', /Requests per second of e2e-history: .* at most/, { timeout: 15_000 });
  } finally {
    expect((await page.request.delete('/api/v1/services/e2e-history', { headers })).status()).toBe(204);
  }
});
