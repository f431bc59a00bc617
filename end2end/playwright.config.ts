// Browser tests run in Debian's Chromium (never a downloaded browser) against a Berth
// that scripts/e2e starts on BERTH_URL, with a fresh database and real Docker test
// hosts. The first-run project creates the first admin through the UI; every other
// test logs in as that admin (or as users it creates).
import { defineConfig } from '@playwright/test';

export default defineConfig({
  testDir: './tests',
  timeout: 60_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [['list']],
  outputDir: './test-results',
  use: {
    baseURL: process.env.BERTH_URL ?? 'http://127.0.0.1:3000',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
  projects: [
    { name: 'first-run', testMatch: /first-run\.spec\.ts/ },
    { name: 'app', testIgnore: /first-run\.spec\.ts/, dependencies: ['first-run'] },
  ],
});
