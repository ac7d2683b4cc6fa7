/**
 * `npm run screenshots`: the README's and docs/web.md's pictures of the web app, made by the app itself in Debian's
 * Chromium — never by hand. A venue replays four hours of the embedded real BTC/USD minutes into BTCUSDT's mark (its
 * clock moved minute by minute, so the chart has history), then traders act at the last price: alice holds an
 * isolated 20x long with a stop-loss and a take-profit and a cross short, carol's 100x long is liquidated by a dip,
 * dave's 25x long sits close to liquidation. Then each view is photographed at 1280×800 (and the trader's on a phone).
 *
 * Writes docs/screenshots/{trader,trader-add-margin,operator,trader-phone}.png.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { ETHUSDT } from '../test/engine/harness.ts';
import { browserMissing, launch, login, openPage } from '../test/web/browser.ts';
import { KEYS, quote, startVenue } from '../test/web/venue.ts';

const OUT = 'docs/screenshots';
const MINUTES = 240;
/** A stretch of January 2025 where the price moves (row offset into the embedded file). */
const FROM_ROW = 21_000;
const ETH_PER_BTC = 0.0345;

function closes(): number[] {
  const rows = readFileSync('data/btcusd-bitstamp-1m-2025-01.csv', 'utf8').trim().split('\n').slice(1);
  return rows.slice(FROM_ROW, FROM_ROW + MINUTES).map((r) => Number(r.split(',')[4]));
}

async function settle(page: Page): Promise<void> {
  await page.waitForLoadState('networkidle');
  await page.waitForTimeout(800);
}

async function main(): Promise<void> {
  const missing = browserMissing();
  if (missing) throw new Error(missing);
  const path = closes();
  const clock = { t: Date.now() - MINUTES * 60_000, real: false };
  const venue = await startVenue({
    price: path[0]!,
    now: () => (clock.real ? Date.now() : clock.t),
    recvWindowMs: (MINUTES + 10) * 60_000,
  });
  const ok = venue.ok;
  /** ETH follows BTC at a fixed ratio here: a second market, for a cross box beside the isolated one. */
  const eth = (btc: number) => (Math.round(btc * ETH_PER_BTC * 100) / 100).toFixed(2);
  try {
    await ok('POST', '/api/v1/admin/markets', 'admin', ETHUSDT);
    for (const price of path) {
      clock.t += 60_000;
      await venue.mark(price.toFixed(1));
      await venue.mark(eth(price), 'ETHUSDT');
    }
    const last = path[path.length - 1]!;
    await ok('DELETE', '/api/v1/orders', 'bob');
    await quote(ok, last);
    clock.real = true;
    for (const account of ['carol', 'dave'])
      await ok('POST', '/api/v1/admin/deposit', 'admin', { account, asset: 'USDT', amount: '20000' });
    const buy = (account: string, amount: string) =>
      ok('POST', '/api/v1/orders', 'admin', {
        account,
        symbol: 'BTCUSDT',
        side: 'buy',
        type: 'market',
        amount,
      });
    for (const [account, leverage] of [
      ['alice', '20'],
      ['carol', '100'],
      ['dave', '25'],
    ] as const)
      await ok('POST', '/api/v1/leverage', 'admin', { account, symbol: 'BTCUSDT', leverage });
    await buy('alice', '0.5');
    await buy('carol', '0.3');
    await buy('dave', '0.4');
    await quote(ok, last);
    await quote(ok, Number(eth(last)), 'ETHUSDT', 0.01);
    await ok('POST', '/api/v1/margin-mode', 'alice', { symbol: 'ETHUSDT', marginMode: 'cross' });
    await ok('POST', '/api/v1/orders', 'alice', {
      symbol: 'ETHUSDT',
      side: 'sell',
      type: 'market',
      amount: '5',
    });
    const tick = (p: number) => (Math.round(p * 10) / 10).toFixed(1);
    await ok('POST', '/api/v1/orders', 'alice', {
      symbol: 'BTCUSDT',
      side: 'sell',
      type: 'market',
      amount: '0.5',
      stopLossPrice: tick(last * 0.975),
    });
    await ok('POST', '/api/v1/orders', 'alice', {
      symbol: 'BTCUSDT',
      side: 'sell',
      type: 'market',
      amount: '0.5',
      takeProfitPrice: tick(last * 1.03),
    });
    // A dip that takes carol's 100x long, then a partial recovery.
    await venue.mark(tick(last * 0.9915));
    await venue.mark(tick(last * 0.997));
    await ok('PUT', '/api/v1/alerts', 'alice', { levels: ['0.5', '0.8', '0.9'] });

    mkdirSync(OUT, { recursive: true });
    const browser = await launch();
    try {
      const trader = await openPage(browser, venue.base);
      await login(trader.page, KEYS.alice.key, KEYS.alice.secret);
      await settle(trader.page);
      await trader.page.screenshot({ path: join(OUT, 'trader.png'), fullPage: true });
      await trader.page.getByRole('button', { name: 'Add margin' }).first().click();
      await trader.page
        .getByTestId('margin-dialog')
        .getByLabel(/^Amount/)
        .fill('500');
      await trader.page.getByTestId('preview-liquidation').filter({ hasText: /\d/ }).waitFor();
      await trader.page.screenshot({ path: join(OUT, 'trader-add-margin.png') });

      const phone = await openPage(browser, venue.base, { width: 390, height: 844 });
      await login(phone.page, KEYS.alice.key, KEYS.alice.secret);
      await settle(phone.page);
      await phone.page.screenshot({ path: join(OUT, 'trader-phone.png') });

      const operator = await openPage(browser, venue.base);
      await login(operator.page, KEYS.admin.key, KEYS.admin.secret);
      await operator.page.getByTestId('closest').waitFor();
      await settle(operator.page);
      await operator.page.screenshot({ path: join(OUT, 'operator.png'), fullPage: true });

      const errors = [...trader.errors, ...phone.errors, ...operator.errors];
      if (errors.length > 0) throw new Error(`console errors:\n${errors.join('\n')}`);
    } finally {
      await browser.close();
    }
    process.stdout.write(
      `screenshots in ${OUT}/: trader.png trader-add-margin.png trader-phone.png operator.png\n`,
    );
  } finally {
    await venue.close();
  }
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    process.stderr.write(`screenshots: ${e.stack ?? e.message}\n`);
    process.exit(1);
  },
);
