import { expect, test } from '@playwright/test';
import { ADMIN, loginAs, openHydrated } from './helpers';

const PROXY = process.env.BERTH_PROXY_URL ?? 'http://127.0.0.1:8080';

test('the proxy view lists the routes and its counters rise with traffic', async ({ page, baseURL }) => {
  await loginAs(page, ADMIN.username, ADMIN.password);
  const headers = { origin: baseURL! };
  const team = await page.request.post('/api/v1/teams', { data: { name: 'edge' }, headers });
  expect([201, 409]).toContain(team.status());
  const created = await page.request.post('/api/v1/services', {
    headers,
    data: {
      name: 'e2e-proxy', team: 'edge', replicas: 2,
      spec: { image: '127.0.0.1:5000/berth-demo:v1', port: 8080, health: { kind: 'http', path: '/healthz' } },
    },
  });
  expect(created.status()).toBe(201);

  await openHydrated(page, '/proxy');
  await page.evaluate(() => ((window as any).berthMarker = 1));
  const route = page.locator('section[data-service="e2e-proxy"]');
  await expect(route.locator('[data-route="e2e-proxy.localhost|/"]')).toBeVisible({ timeout: 60_000 });
  const rows = route.locator('table.backends tbody tr');
  await expect(rows).toHaveCount(2, { timeout: 60_000 });
  const total = async () => {
    let n = 0;
    for (const r of await rows.all()) n += Number(await r.getAttribute('data-requests'));
    return n;
  };
  const before = await total();

  // Traffic through the proxy, by its host name.
  for (let i = 0; i < 20; i++) {
    const r = await page.request.get(`${PROXY}/healthz`, { headers: { host: 'e2e-proxy.localhost' } });
    expect(r.status()).toBe(200);
    expect(await r.text()).toBe('ok v1\n');
  }
  await expect.poll(total, { timeout: 10_000 }).toBeGreaterThanOrEqual(before + 20);
  await expect(route.getByText('serving').first()).toBeVisible();
  expect(await page.evaluate(() => (window as any).berthMarker)).toBe(1);

  // The nginx export names the route.
  await expect(page.getByLabel('nginx configuration')).toContainText('upstream berth_e2e-proxy {');

  const gone = await page.request.delete('/api/v1/services/e2e-proxy', { headers });
  expect(gone.status()).toBe(204);
});
