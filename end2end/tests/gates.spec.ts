import { expect, test } from '@playwright/test';
import { ADMIN, loginAs, openHydrated } from './helpers';

const PROXY = process.env.BERTH_PROXY_URL ?? 'http://127.0.0.1:8080';

test('a rollout gated from the form is rolled back by its error gate, in words with its figures', async ({ page, baseURL }) => {
  await loginAs(page, ADMIN.username, ADMIN.password);
  const headers = { origin: baseURL! };
  const team = await page.request.post('/api/v1/teams', { data: { name: 'gated' }, headers });
  expect([201, 409]).toContain(team.status());
  const created = await page.request.post('/api/v1/services', {
    headers,
    data: {
      name: 'e2e-gates', team: 'gated', replicas: 2,
      spec: { image: '127.0.0.1:5000/berth-demo:v1', port: 8080, health: { kind: 'http', path: '/healthz' } },
    },
  });
  expect(created.status()).toBe(201);
  let loading = true;
  try {
    await openHydrated(page, '/services/e2e-gates');
    await expect(page.locator('section[data-phase]')).toHaveAttribute('data-ready', '2/2', { timeout: 60_000 });

    // Traffic on / the whole time.
    const load = (async () => {
      while (loading) {
        await page.request.get(`${PROXY}/`, { headers: { host: 'e2e-gates.localhost' } }).catch(() => undefined);
      }
    })();

    // A release that passes its health checks and answers 500 on /, gated at
    // 5% errors; a bad limit is refused before anything is sent.
    const form = page.getByRole('form', { name: 'Deploy' });
    await form.getByLabel('Image').fill('127.0.0.1:5000/berth-demo:erring');
    await form.getByText('Rollout policy').click();
    await form.getByLabel('Max error rate').fill('150%');
    await form.getByRole('button', { name: 'Deploy' }).click();
    await expect(page.getByRole('alert')).toContainText('"150%" is not a percent above 0 and below 100');
    await form.getByLabel('Max error rate').fill('5%');
    await form.getByLabel('Gate window').fill('10s');
    await form.getByLabel('Batch size').fill('1');
    await form.getByRole('button', { name: 'Deploy' }).click();
    await expect(page.locator('section.panel dd').filter({ hasText: 'gates: at most 5% 5xx, over 10 s' })).toBeVisible({ timeout: 10_000 });

    // The gate fails it: the reason says what users got, against the limit.
    const rollout = page.locator('section[data-rollout-state]');
    await expect(rollout.getByRole('heading', { name: 'Automatic rollback to revision 1' })).toBeVisible({ timeout: 60_000 });
    await expect(rollout).toHaveAttribute('data-rollout-state', 'succeeded', { timeout: 60_000 });
    await expect(page.locator('li[data-rollout]').getByText(/rolled back: new replicas answered [\d.]+% 5xx over \d+ s, limit 5%/).first()).toBeVisible();
    loading = false;
    await load;
  } finally {
    loading = false;
    expect((await page.request.delete('/api/v1/services/e2e-gates', { headers })).status()).toBe(204);
  }
});
