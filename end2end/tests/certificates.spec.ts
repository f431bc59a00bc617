// The Certificates page: reached from the sidebar, empty at first, an uploaded
// self-signed certificate listed as valid with its expiry, a key that is not the
// certificate's refused in words, and a delete (asked twice) that empties the
// list again without a reload.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { ADMIN, loginAs, openHydrated } from './helpers';

const HOST = 'shop.example.com';

/** A self-signed P-256 certificate for `host`, lasting 30 days, made by openssl in `dir`. */
function selfSigned(dir: string, name: string, host: string) {
  const [key, cert] = [join(dir, `${name}-k.pem`), join(dir, `${name}-c.pem`)];
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', key, '-out', cert, '-days', '30', '-subj', `/CN=${host}`, '-addext', `subjectAltName=DNS:${host}`,
  ], { stdio: 'pipe' });
  // `notAfter=Dec 25 12:00:00 2026 GMT` -> `2026-12-25`, as the page writes it.
  const end = execFileSync('openssl', ['x509', '-noout', '-enddate', '-in', cert]).toString().trim();
  const until = new Date(end.replace('notAfter=', '')).toISOString().slice(0, 10);
  return { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8'), until };
}

test('a certificate is uploaded, listed with its expiry, refused with a wrong key, deleted', async ({ page, baseURL }) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-certs-'));
  try {
    const mine = selfSigned(dir, 'shop', HOST);
    const other = selfSigned(dir, 'other', HOST);
    await loginAs(page, ADMIN.username, ADMIN.password);

    // From the sidebar; nothing listed yet, and how to get one.
    await openHydrated(page, '/');
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Certificates' }).click();
    await expect(page).toHaveURL(/\/certificates$/);
    await expect(page.getByRole('heading', { level: 1, name: 'Certificates' })).toBeVisible();
    await expect(page.getByRole('heading', { name: 'No certificates yet' })).toBeVisible();
    await expect(page.locator('.empty')).toContainText('upload a certificate and its key below');

    const form = page.getByRole('form', { name: 'Upload certificate' });
    const host = form.getByLabel('Host', { exact: true });
    const chain = form.getByLabel('Certificate chain (PEM)');
    const key = form.getByLabel('Private key (PEM)');
    const send = form.getByRole('button', { name: 'Upload certificate' });

    // Checked before it goes: a host, then PEM.
    await send.click();
    await expect(page.getByRole('alert')).toContainText('write the host the certificate is for');
    await host.fill('shop example');
    await send.click();
    await expect(page.getByRole('alert')).toContainText('is not a host name');
    await host.fill(HOST);
    await chain.fill('not a certificate');
    await send.click();
    await expect(page.getByRole('alert')).toContainText('paste the certificate chain in PEM');

    // The chain from its file, the key pasted; for every team (the admin's default).
    await form.getByLabel('Certificate file').setInputFiles({
      name: 'shop.pem', mimeType: 'application/x-pem-file', buffer: Buffer.from(mine.cert),
    });
    await expect(chain).toHaveValue(mine.cert);
    await key.fill(mine.key);
    await expect(form.getByLabel('Team')).toHaveValue('');
    await send.click();
    await expect(page.getByText(`Uploaded the certificate for ${HOST}, valid until ${mine.until}.`)).toBeVisible();
    // The key leaves the page with the rest of the form.
    await expect(key).toHaveValue('');
    const row = page.locator(`tr[data-cert="${HOST}"]`);
    await expect(row).toHaveAttribute('data-state', 'valid');
    await expect(row).toHaveAttribute('data-source', 'uploaded');
    await expect(row).toContainText('every team');
    await expect(row).toContainText(mine.until);
    await expect(row).toContainText(/in (29|30) days/);
    await expect(row.getByRole('meter', { name: `life used of the certificate for ${HOST}` })).toBeVisible();
    await expect(page.getByRole('heading', { name: 'No certificates yet' })).toHaveCount(0);

    if (process.env.BERTH_E2E_SHOTS) {
      await shot(page, baseURL!);
    }

    // Another key is refused in words (422), and the form keeps what was typed.
    await host.fill(HOST);
    await chain.fill(mine.cert);
    await key.fill(other.key);
    await send.click();
    await expect(page.getByRole('alert')).toContainText('the private key does not belong to the certificate');
    await expect(chain).toHaveValue(mine.cert);
    await expect(row).toHaveAttribute('data-state', 'valid');

    // Deleted (asked twice): gone without a reload.
    await row.getByRole('button', { name: 'Delete' }).click();
    await row.getByRole('group').getByRole('button', { name: 'Delete' }).click();
    await expect(page.getByText(`Deleted the certificate for ${HOST}.`)).toBeVisible();
    await expect(row).toHaveCount(0);
    await expect(page.getByRole('heading', { name: 'No certificates yet' })).toBeVisible();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * docs/certificates.png: the page with the uploaded certificate and, when the
 * Berth under test orders from a CA that refuses BERTH_E2E_REFUSED_HOST (Pebble
 * with that name on its blocklist), a route's failed order with the CA's reason.
 */
async function shot(page: import('@playwright/test').Page, baseURL: string) {
  const headers = { origin: baseURL };
  const refused = process.env.BERTH_E2E_REFUSED_HOST;
  if (refused) {
    const team = await page.request.post('/api/v1/teams', { data: { name: 'storefront' }, headers });
    expect([201, 409]).toContain(team.status());
    const created = await page.request.post('/api/v1/services', {
      headers,
      data: {
        name: 'e2e-storefront', team: 'storefront', replicas: 0,
        spec: { image: '127.0.0.1:5000/berth-demo:v1', port: 8080 },
        proxy: { routes: [{ host: refused, path_prefix: '/', acme: true, redirect_https: true }] },
      },
    });
    expect(created.status(), await created.text()).toBe(201);
    await expect(page.locator(`tr[data-cert="${refused}"]`)).toHaveAttribute('data-state', 'failed', { timeout: 30_000 });
  }
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.evaluate(() => window.scrollTo(0, 0));
  const box = (await page.locator('.cert-upload').boundingBox())!;
  await page.setViewportSize({ width: 1280, height: Math.ceil(box.y + box.height + 24) });
  await page.screenshot({ path: `${process.env.BERTH_E2E_SHOTS}/certificates.png` });
  if (refused) {
    expect((await page.request.delete('/api/v1/services/e2e-storefront', { headers })).status()).toBe(204);
    const gone = await page.request.delete(`/api/v1/certificates/${refused}`, { headers });
    expect([204, 404]).toContain(gone.status());
    await expect(page.locator(`tr[data-cert="${refused}"]`)).toHaveCount(0);
  }
}
