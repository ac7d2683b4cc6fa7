/**
 * Debian's Chromium driven by playwright-core (Playwright's own browser download cannot work on these machines). Every
 * page records console errors and uncaught exceptions: the browser tests fail on any.
 */
import { existsSync } from 'node:fs';
import { type Browser, chromium, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Why the browser tests cannot run here (null: they can). `.ci/run` installs the package when it is missing. */
export function browserMissing(): string | null {
  return existsSync(CHROMIUM) ? null : `${CHROMIUM} not found (apt-get install chromium)`;
}

export async function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    timeout: 30_000,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-quic',
      '--disable-sync',
    ],
  });
}

export interface WatchedPage {
  page: Page;
  /** Console errors and page errors seen so far. */
  errors: string[];
}

export async function openPage(
  browser: Browser,
  base: string,
  viewport = { width: 1280, height: 800 },
): Promise<WatchedPage> {
  const context = await browser.newContext({ viewport, colorScheme: 'dark' });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`page: ${e.message}`));
  // Chromium logs a failed request as a bare console error; keep what it was, for the failure message.
  page.on('response', (r) => {
    if (r.status() >= 400)
      void r.text().then(
        (t) => errors.push(`response: ${r.status()} ${r.request().method()} ${r.url()} ${t.slice(0, 300)}`),
        () => {},
      );
  });
  await page.goto(base, { waitUntil: 'load' });
  return { page, errors };
}

/** Logs in through the form, as a person would. */
export async function login(page: Page, key: string, secret: string): Promise<void> {
  await page.getByLabel('API key').fill(key);
  await page.getByLabel('Secret').fill(secret);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByTestId('account').waitFor();
}
