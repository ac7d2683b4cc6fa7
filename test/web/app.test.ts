/**
 * The web app in a real browser (Debian's Chromium through playwright-core) against a real service: a trader logs in,
 * opens a 50x long through the order ticket whose preview matches the fill, sees the box's liquidation price equal the
 * API's and drawn on the chart, adds margin through the preview and sees the line move, gets a margin-call alert as the
 * mark falls, and an operator sees the liquidation appear in the feed. Any console error fails the run.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { browserMissing, launch, login, openPage, type WatchedPage } from './browser.ts';
import { KEYS, startVenue, type Venue } from './venue.ts';

/** The page's `document`, for the callbacks that run in the browser (this file is type-checked without the DOM lib). */
declare const document: { activeElement: unknown };

const skip = browserMissing();
const T = { timeout: 60_000 };

interface PositionJson {
  symbol: string;
  side: string | null;
  contracts: string;
  liquidationPrice: string | null;
  collateral: string;
  maintenanceMargin: string;
}

/** The chart's lines as the app drew them (the canvas itself cannot be read). */
async function chartLines(page: Page): Promise<{ id: string; price: string; kind: string }[]> {
  return JSON.parse((await page.getByTestId('price-chart').getAttribute('data-lines')) ?? '[]');
}

async function until<T>(
  what: string,
  f: () => Promise<T | null | undefined | false>,
  ms = 10_000,
): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown = null;
  while (Date.now() < end) {
    try {
      const v = await f();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

describe('web app in Chromium', { skip: skip ?? false, timeout: 240_000 }, () => {
  let venue: Venue;
  let browser: Browser;
  let trader: WatchedPage;
  let operator: WatchedPage;

  const alicePosition = async () => {
    const ps = await venue.ok<PositionJson[]>('GET', '/api/v1/positions', 'alice');
    return ps.find((p) => p.symbol === 'BTCUSDT' && p.side !== null) ?? null;
  };

  before(async () => {
    venue = await startVenue();
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
    await venue?.close();
  });

  test('a trader logs in with a key and sees the market', T, async () => {
    trader = await openPage(browser, venue.base);
    await login(trader.page, KEYS.alice.key, KEYS.alice.secret);
    assert.equal(await trader.page.getByTestId('account').textContent(), 'alice');
    await until(
      'the mark',
      async () => (await trader.page.getByTestId('ticker-mark').textContent()) === '20,000.0',
    );
  });

  test(
    'long 1 BTC at 20,000, 50x: the preview liquidation price is the position’s, the API’s and the chart’s',
    T,
    async () => {
      const p = trader.page;
      await p.getByRole('textbox', { name: 'Price', exact: true }).fill('20000');
      await p.getByLabel(/^Amount/).fill('1');
      await p.getByLabel('Leverage').fill('50');
      const preview = await until('a preview', async () => {
        const t = (await p.getByTestId('preview-order-liquidation').textContent()) ?? '';
        return /\d/.test(t) ? t : null;
      });
      await p.getByTestId('place-order').click();
      const pos = await until('the position', alicePosition);
      assert.equal(pos.contracts, '1');
      const cell = p.getByTestId('silo-isolated:BTCUSDT').getByTestId('liquidation-price');
      await until('the box', async () => (await cell.textContent()) === preview);
      const lp = pos.liquidationPrice!;
      assert.equal(
        await p.getByTestId('leg-isolated:BTCUSDT-BTCUSDT').getAttribute('data-liquidation-price'),
        lp,
        'the box shows the API’s liquidation price',
      );
      assert.equal(preview.replace(/,/g, ''), Number(lp).toFixed(1), 'the preview matched the result');
      await until('the liquidation line', async () =>
        (await chartLines(p)).some((l) => l.kind === 'liquidation' && l.price === lp),
      );
    },
  );

  test(
    'add 1,000 USDT through the preview: the liquidation line moves to what the preview said',
    T,
    async () => {
      const p = trader.page;
      const before = (await alicePosition())!.liquidationPrice!;
      await p.getByRole('button', { name: 'Add margin' }).click();
      const dialog = p.getByTestId('margin-dialog');
      await dialog.getByLabel(/^Amount/).fill('1000');
      const preview = await until('the margin preview', async () => {
        const t = (await dialog.getByTestId('preview-liquidation').textContent()) ?? '';
        return /\d/.test(t) ? t.replace(/,/g, '') : null;
      });
      await dialog.getByTestId('margin-confirm').click();
      const after = await until('the new liquidation price', async () => {
        const lp = (await alicePosition())?.liquidationPrice;
        return lp && lp !== before ? lp : null;
      });
      assert.equal(Number(after).toFixed(1), preview, 'the engine did what the preview said');
      assert.ok(Number(after) < Number(before), 'more collateral, lower liquidation price for a long');
      await until('the moved line', async () => {
        const ls = await chartLines(p);
        return (
          ls.some((l) => l.kind === 'liquidation' && l.price === after) && !ls.some((l) => l.price === before)
        );
      });
    },
  );

  test(
    'keyboard: Enter on "Add margin" opens its dialog with focus inside; Escape closes it and focus returns',
    T,
    async () => {
      const p = trader.page;
      const add = p.getByRole('button', { name: 'Add margin' });
      await add.focus();
      await p.keyboard.press('Enter');
      const dialog = p.getByTestId('margin-dialog');
      await dialog.waitFor();
      assert.equal(
        await dialog.evaluate((d) => d.contains(document.activeElement)),
        true,
        'focus moved into the dialog',
      );
      await p.keyboard.press('Escape');
      await dialog.waitFor({ state: 'detached' });
      assert.equal(await add.evaluate((b) => b === document.activeElement), true, 'focus back on the button');
    },
  );

  test('a lost connection is shown, and the app reconnects and says so', T, async () => {
    const p = trader.page;
    for (const c of venue.app.websocketServer.clients) c.terminate();
    await p.locator('[data-testid=link-state][data-state=recovered]').waitFor({ timeout: 15_000 });
    // Live again: a mark move reaches the ticker through the new connection.
    await venue.mark('20010');
    await until(
      'the new mark',
      async () => (await p.getByTestId('ticker-mark').textContent()) === '20,010.0',
    );
    await venue.mark('20000');
  });

  test(
    'a stop-loss and a take-profit set from the box show in the open orders and on the chart',
    T,
    async () => {
      const p = trader.page;
      await p.getByRole('button', { name: 'Stop / take profit' }).click();
      const dialog = p.getByTestId('protect-dialog');
      await dialog.getByLabel(/^Stop-loss price/).fill('18000');
      await dialog.getByText('beyond the liquidation price').waitFor(); // the box would be liquidated first: said so
      await dialog.getByLabel(/^Take-profit price/).fill('21000');
      await dialog.getByRole('button', { name: 'Set' }).click();
      await until(
        'two trigger orders',
        async () => (await p.getByTestId('orders').locator('tbody tr').count()) === 2,
      );
      const rows = (await p.getByTestId('orders').textContent()) ?? '';
      assert.match(rows, /stop-loss/);
      assert.match(rows, /take-profit/);
      const api = await venue.ok<{ stopLossPrice: string | null; takeProfitPrice: string | null }[]>(
        'GET',
        '/api/v1/orders',
        'alice',
      );
      assert.deepEqual(api.map((o) => o.stopLossPrice ?? o.takeProfitPrice).sort(), ['18000', '21000']);
      await until('the stop and take-profit lines', async () => {
        const ls = await chartLines(p);
        return (
          ls.some((l) => l.kind === 'stopLoss' && l.price === '18000') &&
          ls.some((l) => l.kind === 'takeProfit')
        );
      });
    },
  );

  test(
    'the mark falls toward the liquidation price: a margin-call alert is pushed and shown',
    T,
    async () => {
      const p = trader.page;
      const pos = (await alicePosition())!;
      // Where maintenance / equity is about 0.7 — past the default 50 % level, short of liquidation: equity =
      // collateral + (mark − entry) × size for a 1 BTC long.
      const m = (20_000 + Number(pos.maintenanceMargin) / 0.7 - Number(pos.collateral)).toFixed(1);
      assert.ok(Number(m) > Number(pos.liquidationPrice));
      await venue.mark(m);
      await until('an alert', async () => (await p.getByTestId('alert').count()) > 0);
      const text = (await p.getByTestId('alert').first().textContent()) ?? '';
      assert.match(text, /BTCUSDT: margin ratio .* reached/);
    },
  );

  test(
    'an operator sees the positions closest to liquidation, then the liquidation in the live feed',
    T,
    async () => {
      operator = await openPage(browser, venue.base);
      await login(operator.page, KEYS.admin.key, KEYS.admin.secret);
      await operator.page.getByTestId('closest').waitFor();
      const o = operator.page;
      await until('alice in the closest list', async () =>
        ((await o.getByTestId('closest').textContent()) ?? '').includes('alice'),
      );
      const lp = Number((await alicePosition())!.liquidationPrice);
      await venue.mark((lp - 50).toFixed(1));
      await until(
        'a liquidation in the feed',
        async () => (await o.getByTestId('liquidation-item').count()) > 0,
      );
      const item = (await o.getByTestId('liquidation-item').first().textContent()) ?? '';
      assert.match(item, /BTCUSDT/);
      assert.match(item, /alice/);
    },
  );

  test('no console errors in either page', T, async () => {
    assert.deepEqual(trader.errors, []);
    assert.deepEqual(operator.errors, []);
  });
});
