import { expect, test } from '@playwright/test';
import { ADMIN, loginAs, openHydrated } from './helpers';

test('a new image is rolled out from the form, live, and rolled back to revision 1', async ({ page, baseURL }) => {
  await loginAs(page, ADMIN.username, ADMIN.password);
  const headers = { origin: baseURL! };
  const team = await page.request.post('/api/v1/teams', { data: { name: 'rollers' }, headers });
  expect([201, 409]).toContain(team.status());
  const created = await page.request.post('/api/v1/services', {
    headers,
    data: {
      name: 'e2e-roll', team: 'rollers', replicas: 3,
      spec: { image: '127.0.0.1:5000/berth-demo:v1', port: 8080, health: { kind: 'http', path: '/healthz' } },
    },
  });
  expect(created.status()).toBe(201);

  await openHydrated(page, '/services/e2e-roll');
  await page.evaluate(() => ((window as any).berthMarker = 1));
  const state = page.locator('section[data-phase]');
  await expect(state).toHaveAttribute('data-ready', '3/3', { timeout: 60_000 });

  // The deploy form: a new image and a policy of batches of 2; a bad policy is
  // refused before anything is sent.
  const form = page.getByRole('form', { name: 'Deploy' });
  await form.getByLabel('Image').fill('127.0.0.1:5000/berth-demo:v2');
  await form.getByText('Rollout policy').click();
  await form.getByLabel('Healthy within').fill('soon');
  await form.getByRole('button', { name: 'Deploy' }).click();
  await expect(page.getByRole('alert')).toContainText('invalid duration "soon"');
  await form.getByLabel('Healthy within').fill('30s');
  await form.getByLabel('Batch size').fill('2');
  await form.getByLabel('On failure').selectOption('rollback');
  await form.getByRole('button', { name: 'Deploy' }).click();

  // The rollout's panel follows it to the end without a reload.
  const rollout = page.locator('section[data-rollout-state]');
  await expect(rollout.getByRole('heading', { name: 'Rollout to revision 2' })).toBeVisible({ timeout: 10_000 });
  await expect(rollout).toHaveAttribute('data-rollout-state', 'succeeded', { timeout: 60_000 });
  await expect(rollout).toHaveAttribute('data-progress', '3/3');
  const rows = page.locator('table.replicas tbody tr');
  await expect(rows).toHaveCount(3, { timeout: 30_000 });
  await expect(page.locator('table.replicas tbody tr[data-revision="2"]')).toHaveCount(3);

  // The history: revision 1 against the current one, then back to it (asked twice).
  const first = page.locator('li[data-revision="1"]');
  await first.getByRole('button', { name: 'Changes from current' }).click();
  const diff = first.getByRole('list', { name: 'Changes from revision 2 to 1' });
  await expect(diff).toContainText('berth-demo:v2');
  await expect(diff).toContainText('berth-demo:v1');
  await first.getByRole('button', { name: 'Roll back to 1' }).click();
  await first.getByRole('group').getByRole('button', { name: 'Roll back to 1' }).click();
  await expect(rollout.getByRole('heading', { name: 'Rollback to revision 1' })).toBeVisible({ timeout: 10_000 });
  await expect(rollout).toHaveAttribute('data-rollout-state', 'succeeded', { timeout: 60_000 });
  await expect(state).toHaveAttribute('data-ready', '3/3', { timeout: 30_000 });
  await expect(page.locator('li[data-revision="1"]')).toContainText('(current)');
  await expect(page.locator('table.replicas tbody tr[data-revision="1"]')).toHaveCount(3, { timeout: 30_000 });
  expect(await page.evaluate(() => (window as any).berthMarker)).toBe(1);

  // Any two revisions compared.
  const compare = page.getByRole('form', { name: 'Compare revisions' });
  await compare.getByLabel('Compare').selectOption('1');
  await compare.getByLabel('with').selectOption('2');
  await compare.getByRole('button', { name: 'Show changes' }).click();
  await expect(page.getByRole('list', { name: 'Changes from revision 1 to 2' })).toContainText('berth-demo:v2');

  // The audit log has the rollback.
  const audit = await page.request.get('/api/v1/audit?action=service.rollback');
  expect(audit.status()).toBe(200);
  expect(JSON.stringify(await audit.json())).toContain('e2e-roll');

  const gone = await page.request.delete('/api/v1/services/e2e-roll', { headers });
  expect(gone.status()).toBe(204);
});
