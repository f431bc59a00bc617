import { expect, test } from '@playwright/test';
import { ADMIN, loginAs, openHydrated } from './helpers';

const PROXY = process.env.BERTH_PROXY_URL ?? 'http://127.0.0.1:8080';

test('a canary set in the form shows its weight, takes that share and is promoted from the page', async ({ page, baseURL }) => {
  await loginAs(page, ADMIN.username, ADMIN.password);
  const headers = { origin: baseURL! };
  const team = await page.request.post('/api/v1/teams', { data: { name: 'canaries' }, headers });
  expect([201, 409]).toContain(team.status());
  const created = await page.request.post('/api/v1/services', {
    headers,
    data: {
      name: 'e2e-canary', team: 'canaries', replicas: 2,
      spec: { image: '127.0.0.1:5000/berth-demo:v1', port: 8080, health: { kind: 'http', path: '/healthz' } },
    },
  });
  expect(created.status()).toBe(201);
  try {
    await openHydrated(page, '/services/e2e-canary');
    await expect(page.locator('section[data-phase]')).toHaveAttribute('data-ready', '2/2', { timeout: 60_000 });

    // Steps that do not grow are refused before anything is sent.
    const form = page.getByRole('form', { name: 'Deploy' });
    await form.getByLabel('Image').fill('127.0.0.1:5000/berth-demo:v2');
    await form.getByText('Rollout policy').click();
    await form.getByLabel('Canary steps').fill('50%, 10%');
    await form.getByRole('button', { name: 'Deploy' }).click();
    await expect(page.getByRole('alert')).toContainText('each canary step takes more than the one before (10% after 50%)');
    await form.getByLabel('Canary steps').fill('10%, 50%');
    await form.getByRole('button', { name: 'Deploy' }).click();
    await expect(page.locator('section.panel dd').filter({ hasText: 'canary: 10% until promoted, 50% until promoted' })).toBeVisible({ timeout: 10_000 });

    // Step 1: the split drawn at 10%, its new replica ready, and the proxy sends
    // it 10 of every 100 requests.
    const canary = page.locator('[data-canary-weight]');
    await expect(canary).toHaveAttribute('data-canary-weight', '10', { timeout: 60_000 });
    await expect(canary.getByRole('img', { name: '90% of requests to the old replicas, 10% to the new' })).toBeVisible();
    await expect(canary).toContainText('1 of 1 replica ready · holds until promoted', { timeout: 60_000 });
    // First until the canary has answered once (a replica the proxy could not
    // reach yet is passed over for a moment); then any 100 turns in a row
    // give it exactly 10.
    const info = () => page.request.get(`${PROXY}/cgi-bin/info`, { headers: { host: 'e2e-canary.localhost' } });
    await expect.poll(async () => (await (await info()).text()).includes('version=v2'), { timeout: 30_000 }).toBe(true);
    let v2 = 0;
    for (let i = 0; i < 100; i++) {
      const r = await page.request.get(`${PROXY}/cgi-bin/info`, { headers: { host: 'e2e-canary.localhost' } });
      expect(r.status()).toBe(200);
      if ((await r.text()).includes('version=v2')) v2++;
    }
    expect(v2).toBe(10);

    // Promoted from the page: 50%, then past the last step.
    await canary.getByRole('button', { name: 'Promote to next step' }).click();
    await expect(page.locator('.action-status')).toContainText('takes 50% of requests (step 2 of 2)');
    await expect(canary).toHaveAttribute('data-canary-weight', '50');
    await expect(canary).toHaveAttribute('data-canary-step', '2');
    await canary.getByRole('button', { name: 'Promote', exact: true }).click();
    await canary.getByRole('group').getByRole('button', { name: 'Promote', exact: true }).click();
    await expect(canary).toHaveCount(0);
    const rollout = page.locator('section[data-rollout-state]');
    await expect(rollout).toHaveAttribute('data-rollout-state', 'succeeded', { timeout: 60_000 });
    await expect(page.locator('section[data-phase]')).toHaveAttribute('data-ready', '2/2');
  } finally {
    expect((await page.request.delete('/api/v1/services/e2e-canary', { headers })).status()).toBe(204);
  }
});
