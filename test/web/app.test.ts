/**
 * The web app in a real browser (Debian's Chromium through playwright-core) against a real service: a trader logs in,
 * opens a 50x long through the order ticket whose preview matches the fill, sees the box's liquidation price equal the
 * API's and drawn on the chart, adds margin through the preview and sees the line move, gets a margin-call alert as the
 * mark falls, and an operator sees the liquidation appear in the feed. On a second venue: a market with
 * volatility-adjusted margin shows its factor, then the raise the engine announces after a stormy few seconds and,
 * once its notice has passed, the raised factor — in the trader's ticker and order ticket and in the operator's
 * market list; and a trader opts two silos into the rebalancing agent through the app, sees their roles, and sees the
 * move the agent makes when the receiver's margin ratio reaches the trigger. A vault the admin creates appears in the
 * trader's Vaults panel; the trader deposits into it, sees the shares and their value, and withdraws. Any console
 * error fails the run.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import type { MarketConfig } from '../../src/engine/types.ts';
import { dynamicBtcusdt, ETHUSDT } from '../engine/harness.ts';
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

  test(
    'a vault created by the admin: the trader deposits through the panel, sees shares and value, withdraws',
    T,
    async () => {
      const p = trader.page;
      await venue.ok('POST', '/api/v1/admin/vaults', 'admin', {
        vault: 'alpha',
        manager: 'bob',
        asset: 'USDT',
        lockupMs: 0,
        performanceFee: '0.1',
        managementFee: '0',
        maxLeverage: '3',
      });
      const card = p.getByTestId('vault-alpha');
      await card.waitFor(); // the public `vaults` stream said a vault appeared: the list was re-read
      await card.getByLabel(/^Deposit/).fill('1000');
      await card.getByTestId('vault-deposit').click();
      await until(
        'the holding after the deposit',
        async () =>
          (await card.getByTestId('vault-my-shares').textContent()) === '1,000' &&
          (await card.getByTestId('vault-my-value').textContent()) === '1,000.00',
      );
      assert.equal(await card.getByTestId('vault-nav').textContent(), '1,000.00');
      assert.equal(await card.getByTestId('vault-nps').textContent(), '1.000000');
      const held = await venue.ok<{ shares: string; value: string }>(
        'GET',
        '/api/v1/vaults/alpha/holding',
        'alice',
      );
      assert.deepEqual([held.shares, held.value], ['1000', '1000'], 'the API agrees');

      await card.getByLabel(/^Withdraw/).fill('400');
      await card.getByTestId('vault-withdraw').click();
      await until(
        'the holding after the withdrawal',
        async () => (await card.getByTestId('vault-my-shares').textContent()) === '600',
      );
      await until('the toast', async () =>
        ((await p.getByTestId('toasts').textContent()) ?? '').includes(
          'Withdrew 400 shares of alpha: 400 USDT',
        ),
      );
      assert.equal(await card.getByTestId('vault-my-value').textContent(), '600.00');
      await until('the NAV per share line', async () => {
        const pts = JSON.parse(
          (await card.getByTestId('vault-sparkline').getAttribute('data-points')) ?? '[]',
        );
        return pts.length >= 3 && pts.every((x: string) => x === '1');
      });
    },
  );

  test('no console errors in either page', T, async () => {
    assert.deepEqual(trader.errors, []);
    assert.deepEqual(operator.errors, []);
  });
});

/**
 * ETHUSDT priced by one oracle feed, with volatility-adjusted margin reviewed every second (the real clock: the
 * browser signs with it), a raise applying 8 s after it is announced, samples at least 100 ms apart, 3 before a review
 * may move the factor; reference volatility 30 %, factor up to 2 in steps of 0.5.
 */
const DYNAMIC_ETH: MarketConfig = (() => {
  const { oracle, dynamicMargin } = dynamicBtcusdt({
    reviewMs: 1_000,
    noticeMs: 8_000,
    sampleMs: 100,
    minSamples: 3,
  });
  return { ...ETHUSDT, oracle, dynamicMargin };
})();

interface DynamicJson {
  factor: string;
  pendingFactor: string | null;
  effectiveAt: number | null;
}

interface SiloJson {
  id: string;
  collateral: string;
  maintenanceMargin: string;
  marginRatio: string | null;
  rebalancing: { giver: boolean; receiver: boolean; parked: boolean } | null;
  holdings: { asset: string; amount: string; value: string }[];
}

describe('dynamic margin and the rebalancing agent in Chromium', {
  skip: skip ?? false,
  timeout: 240_000,
}, () => {
  let venue: Venue;
  let browser: Browser;
  let trader: WatchedPage;
  let operator: WatchedPage;

  const eth = async () => {
    const ms = await venue.ok<{ symbol: string; dynamicMargin?: DynamicJson }[]>(
      'GET',
      '/api/v1/markets',
      'alice',
    );
    return ms.find((m) => m.symbol === 'ETHUSDT')!.dynamicMargin!;
  };
  const quote = (price: string) =>
    venue.ok('POST', '/api/v1/admin/oracle', 'admin', { symbol: 'ETHUSDT', source: 'feed', price });
  const silo = async (id: string) =>
    (await venue.ok<SiloJson[]>('GET', '/api/v1/silos', 'alice')).find((s) => s.id === id)!;

  before(async () => {
    venue = await startVenue();
    await venue.ok('POST', '/api/v1/admin/markets', 'admin', DYNAMIC_ETH);
    await quote('2000');
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
    await venue?.close();
  });

  test('ETHUSDT margins at ×1; a stormy few seconds: the raise to ×1.5 the engine announces shows with its time — ticker, order ticket, operator — and then applies', {
    timeout: 90_000,
  }, async () => {
    trader = await openPage(browser, venue.base);
    await login(trader.page, KEYS.alice.key, KEYS.alice.secret);
    const p = trader.page;
    await p
      .getByRole('region', { name: 'market', exact: true })
      .getByRole('combobox')
      .selectOption('ETHUSDT');
    const ticker = p.getByRole('region', { name: 'market', exact: true }).getByTestId('margin-factor');
    await until('the factor in force', async () => (await ticker.getAttribute('data-factor')) === '1');
    assert.equal(await ticker.getByTestId('margin-factor-now').textContent(), '×1');
    assert.match(
      (await p.getByTestId('order-preview').locator('..').getByTestId('margin-scaled').textContent()) ?? '',
      /requirements here are ×1 the static tiers/,
    );
    operator = await openPage(browser, venue.base);
    await login(operator.page, KEYS.admin.key, KEYS.admin.secret);
    const row = operator.page.getByTestId('market-ETHUSDT');
    await until(
      'the operator’s factor',
      async () => (await row.getByTestId('margin-factor').getAttribute('data-factor')) === '1',
    );
    assert.match((await operator.page.getByTestId('market-BTCUSDT').textContent()) ?? '', /static/);

    // ±1 % every 150 ms until a review announces the raise (annualised, far past the 30 % reference: target ×2,
    // one step of 0.5).
    const end = Date.now() + 20_000;
    let d = await eth();
    for (let i = 1; d.pendingFactor === null; i++) {
      assert.ok(Date.now() < end, 'no raise announced within 20 s');
      await quote(i % 2 === 0 ? '2000' : '2020');
      await new Promise((r) => setTimeout(r, 150));
      d = await eth();
    }
    assert.deepEqual([d.factor, d.pendingFactor], ['1', '1.5'], 'a raise of one step is announced');
    const at = new Date(d.effectiveAt!).toISOString().slice(11, 19);
    const pending = ticker.getByTestId('margin-factor-pending');
    await until('the pending raise in the ticker', async () =>
      ((await pending.textContent()) ?? '').includes(`→ ×1.5 at ${at}`),
    );
    assert.equal(await ticker.getAttribute('data-factor'), '1', 'nothing applies before its notice');
    assert.match(
      (await p.getByTestId('margin-scaled').first().textContent()) ?? '',
      new RegExp(`Rising to ×1\\.5 at ${at} UTC`),
    );
    await until(
      'the pending raise in the operator’s list',
      async () => (await row.getByTestId('margin-factor').getAttribute('data-pending')) === '1.5',
    );

    // The raise applies on the first clock command at or after its time.
    await new Promise((r) => setTimeout(r, Math.max(0, d.effectiveAt! - Date.now()) + 50));
    await quote('2000');
    assert.equal((await eth()).factor, '1.5', 'the raise applied');
    await until('×1.5 in the ticker', async () => (await ticker.getAttribute('data-factor')) === '1.5');
    await until(
      '×1.5 in the operator’s list',
      async () => (await row.getByTestId('margin-factor').getAttribute('data-factor')) === '1.5',
    );
  });

  test(
    'alice names silo "reserve" a giver and "hedge" (a 50x BTC long) a receiver in the app: the boxes show the roles; BTC slides, the agent moves collateral and she is told',
    T,
    async () => {
      for (const [id, amount] of [
        ['reserve', '3000'],
        ['hedge', '500'],
      ] as const) {
        await venue.ok('POST', '/api/v1/silos', 'alice', {
          silo: id,
          asset: 'USDT',
          riskModel: 'standalone',
        });
        await venue.ok('POST', '/api/v1/silos/transfer', 'alice', { from: 'free', to: id, amount });
      }
      await venue.ok('POST', '/api/v1/leverage', 'alice', {
        symbol: 'BTCUSDT',
        leverage: '50',
        silo: 'hedge',
      });
      await venue.ok('POST', '/api/v1/orders', 'alice', {
        symbol: 'BTCUSDT',
        side: 'buy',
        type: 'limit',
        price: '20000',
        amount: '1',
        silo: 'hedge',
      });
      const p = trader.page;
      await p
        .getByRole('region', { name: 'market', exact: true })
        .getByRole('combobox')
        .selectOption('BTCUSDT');
      await p.getByTestId('silo-reserve').waitFor(); // collateral only, no leg: shown all the same
      await p.getByTestId('leg-hedge-BTCUSDT').waitFor();

      await p.getByRole('button', { name: 'Rebalancing…' }).click();
      const dialog = p.getByTestId('rebalancing-dialog');
      await dialog.getByLabel('reserve gives').check();
      await dialog.getByLabel('hedge receives').check();
      await dialog.getByLabel(/^Trigger/).fill('80');
      await dialog.getByLabel(/^Target/).fill('40');
      await dialog.getByLabel(/^Max per day/).fill('1000');
      await dialog.getByTestId('rebalancing-save').click();
      await dialog.waitFor({ state: 'detached' });

      const settings = await venue.ok<Record<string, unknown>[]>('GET', '/api/v1/silos/rebalancing', 'alice');
      assert.deepEqual(
        settings.map((r) => [r.asset, r.givers, r.receivers, r.trigger, r.target, r.buffer, r.maxPerDay]),
        [['USDT', ['reserve'], ['hedge'], '0.8', '0.4', '0.1', '1000']],
        'the engine holds what was ticked',
      );
      await until(
        'the roles on the boxes',
        async () =>
          (await p.getByTestId('silo-reserve').getByTestId('silo-roles').textContent()) === 'giver' &&
          (await p.getByTestId('silo-hedge').getByTestId('silo-roles').textContent()) === 'receiver',
      );
      assert.match(
        (await p.getByTestId('rebalancing-summary').textContent()) ?? '',
        /reserve → hedge at margin ratio 80 %/,
      );

      // Where hedge's maintenance / equity is about 0.9: past the 0.8 trigger, short of liquidation (equity =
      // collateral + (mark − 20,000) for 1 BTC long).
      const hedge = await silo('hedge');
      const reserve = await silo('reserve');
      const mark = (20_000 + Number(hedge.maintenanceMargin) / 0.9 - Number(hedge.collateral)).toFixed(1);
      await venue.mark(mark);
      const item = p.getByTestId('rebalance-alert').first();
      await item.waitFor();
      const text = (await item.textContent()) ?? '';
      const m = /Rebalanced ([\d,.]+) USDT from reserve to hedge \(margin ratio [\d.]+ % reached 80 %\)/.exec(
        text,
      );
      assert.ok(m, `the move in the feed: ${text}`);
      const moved = Number(m[1]!.replace(/,/g, ''));
      assert.ok(moved > 0, 'something moved');
      await until('the toast', async () =>
        ((await p.getByTestId('toasts').textContent()) ?? '').includes('from reserve to hedge'),
      );
      const [h2, r2] = [await silo('hedge'), await silo('reserve')];
      assert.equal(
        Number(h2.collateral).toFixed(8),
        (Number(hedge.collateral) + moved).toFixed(8),
        'the receiver got what the feed says',
      );
      assert.equal(
        Number(r2.collateral).toFixed(8),
        (Number(reserve.collateral) - moved).toFixed(8),
        'the giver gave it',
      );
      assert.ok(Number(h2.marginRatio) < 0.8, `hedge back under the trigger: ${h2.marginRatio}`);
      await until('the receiver’s box re-read', async () =>
        ((await p.getByTestId('silo-hedge').textContent()) ?? '').includes(`${h2.collateral} USDT`),
      );
    },
  );

  test(
    'ETH accepted as collateral in USDT silos: 0.5 ETH moved into "reserve" shows on its box at its haircut value',
    T,
    async () => {
      await venue.ok('POST', '/api/v1/admin/collateral-assets', 'admin', {
        asset: 'ETH',
        settle: 'USDT',
        dp: 8,
        priceMarket: 'ETHUSDT',
      });
      await venue.ok('POST', '/api/v1/admin/deposit', 'admin', {
        account: 'alice',
        asset: 'ETH',
        amount: '1',
      });
      await venue.ok('POST', '/api/v1/silos/transfer', 'alice', {
        from: 'free',
        to: 'reserve',
        asset: 'ETH',
        amount: '0.5',
      });
      const held = (await silo('reserve')).holdings[0]!;
      const box = trader.page.getByRole('list', { name: 'reserve holdings' });
      await box.waitFor();
      const text = (await box.textContent()) ?? '';
      assert.ok(text.includes('0.5 ETH'), `the holding on the box: ${text}`);
      assert.ok(
        text.replace(/,/g, '').includes(`= ${held.value} USDT`),
        `its value after the haircut (${held.value}): ${text}`,
      );
    },
  );

  test('no console errors in either page', T, async () => {
    assert.deepEqual(trader.errors, []);
    assert.deepEqual(operator.errors, []);
  });
});
