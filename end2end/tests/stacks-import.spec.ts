// Import on the services page: a Compose file pasted, planned (the service to
// create, the keys Berth ignores and why), applied with one click and running; a
// plan made stale by another apply is refused and planned again.
import { expect, test } from '@playwright/test';
import { ADMIN, loginAs, openHydrated } from './helpers';

const TEAM = 'stacked';

// `build` and `container_name` are keys Swarm drops in silence; Berth names them.
const COMPOSE = `services:
  e2e-imported:
    image: 127.0.0.1:5000/berth-demo:v1
    build: .
    container_name: imported
    ports:
      - "8080"
    deploy:
      replicas: 2
`;

// The same service changed (its environment from a file beside it), and a second one.
const ENV_FILE = 'GREETING=hello\n';
const CHANGED = `services:
  e2e-imported:
    image: 127.0.0.1:5000/berth-demo:v2
    build: .
    container_name: imported
    env_file: app.env
    ports:
      - "8080:8080"
    deploy:
      replicas: 2
  e2e-imported-api:
    image: 127.0.0.1:5000/berth-demo:v1
    ports:
      - "8080"
    deploy:
      replicas: 1
`;

test('a Compose file is planned, applied from the services page and runs', async ({ page, baseURL }) => {
  const headers = { origin: baseURL! };
  await loginAs(page, ADMIN.username, ADMIN.password);
  const team = await page.request.post('/api/v1/teams', { data: { name: TEAM }, headers });
  expect([201, 409]).toContain(team.status());

  await openHydrated(page, '/services');
  const open = page.getByRole('button', { name: 'Import', exact: true });
  await expect(open).toHaveAttribute('aria-expanded', 'false');
  await open.click();
  await expect(open).toHaveAttribute('aria-expanded', 'true');
  const form = page.getByRole('form', { name: 'Import' });
  const file = form.getByLabel('File', { exact: true });
  const planButton = form.getByRole('button', { name: 'Plan', exact: true });
  const summary = page.locator('[data-plan-summary]');

  // The form checks before it sends.
  await planButton.click();
  await expect(page.getByRole('alert')).toContainText('paste a stack or Compose file');
  await form.getByLabel('Team').selectOption(TEAM);
  await file.fill(COMPOSE);
  await planButton.click();

  // The plan: one service to create, where its replicas would go, the ignored keys.
  await expect(summary).toHaveText('1 service: 1 to create, 0 new revisions, 0 unchanged');
  const row = page.locator('tr[data-plan-service="e2e-imported"]');
  await expect(row).toHaveAttribute('data-action', 'create');
  await expect(row).toContainText('create with 2 replicas');
  await expect(row).toContainText(/h\d+ ×\d/);
  const build = page.locator('tr[data-note="services.e2e-imported.build"]');
  await expect(build).toHaveAttribute('data-verdict', 'ignored');
  await expect(build).toContainText('Berth runs images and does not build them');
  const name = page.locator('tr[data-note="services.e2e-imported.container_name"]');
  await expect(name).toHaveAttribute('data-verdict', 'ignored');
  await expect(name).toContainText('a fixed name would allow only one replica');

  // A changed text needs a new plan before it applies.
  const apply = page.getByRole('button', { name: 'Apply', exact: true });
  await expect(apply).toBeEnabled();
  await file.fill(COMPOSE.replace('replicas: 2', 'replicas: 2 # two'));
  await expect(apply).toBeDisabled();
  await expect(page.locator('#apply-why')).toContainText('plan again');
  await planButton.click();
  await expect(apply).toBeEnabled();
  await apply.click();
  await expect(page.getByText('Applied: 1 service changed')).toBeVisible();
  await expect(page.locator('.applied').getByRole('link', { name: 'e2e-imported' })).toBeVisible();
  await expect(apply).toBeDisabled();

  // The services list, still live, shows it until it runs.
  const listed = page.locator('table.services tr[data-service="e2e-imported"]');
  await expect(listed).toHaveAttribute('data-phase', 'running', { timeout: 60_000 });
  await expect(listed.locator('[data-ready]')).toHaveAttribute('data-ready', '2 / 2');

  // The changed file, uploaded with its env_file: one new revision with its field
  // diff, one to create.
  await form.getByLabel('Upload').setInputFiles([
    { name: 'compose.yml', mimeType: 'text/yaml', buffer: Buffer.from(CHANGED) },
    { name: 'app.env', mimeType: 'text/plain', buffer: Buffer.from(ENV_FILE) },
  ]);
  await expect(file).toHaveValue(CHANGED);
  await expect(form.getByRole('list', { name: 'Files sent with it' })).toHaveText('app.env');
  await planButton.click();
  await expect(summary).toHaveText('2 services: 1 to create, 1 new revision, 0 unchanged');
  const changed = page.locator('tr[data-plan-service="e2e-imported"]');
  await expect(changed).toHaveAttribute('data-action', 'update');
  await expect(changed).toContainText('new revision after 1, rolled out');
  await expect(changed.locator('.diff')).toContainText('berth-demo:v2');
  await expect(changed.locator('.diff')).toContainText('GREETING');
  await expect(page.locator('tr[data-note="services.e2e-imported.ports"]')).toHaveAttribute('data-verdict', 'adapted');
  if (process.env.BERTH_E2E_SHOTS) {
    // docs/stacks-import.png: the page from its header to the end of the plan, in
    // a window that tall (the sidebar fills the window's height).
    await file.evaluate((el) => (el.scrollTop = 0));
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.evaluate(() => window.scrollTo(0, 0));
    const box = (await page.locator('#stack-import').boundingBox())!;
    await page.setViewportSize({ width: 1280, height: Math.ceil(box.y + box.height + 24) });
    await page.screenshot({ path: `${process.env.BERTH_E2E_SHOTS}/stacks-import.png` });
  }

  // Someone applies the same file first (here through the API): this plan is stale.
  const input = { file: CHANGED, team: TEAM, files: { 'app.env': ENV_FILE } };
  const theirs = await (await page.request.post('/api/v1/stacks/plan', { data: input, headers })).json();
  const applied = await page.request.post('/api/v1/stacks/apply', { data: { ...input, guard: theirs.guard }, headers });
  expect(applied.status()).toBe(200);
  await apply.click();
  await expect(page.getByRole('alert')).toContainText('the plan is stale');
  await page.getByRole('button', { name: 'Plan again' }).click();
  await expect(summary).toHaveText('2 services: 0 to create, 0 new revisions, 2 unchanged');
  await expect(apply).toBeDisabled();
  await expect(page.locator('#apply-why')).toContainText('No changes');

  for (const service of ['e2e-imported', 'e2e-imported-api']) {
    const gone = await page.request.delete(`/api/v1/services/${service}?volumes=delete`, { headers });
    expect(gone.status()).toBe(204);
  }
});
