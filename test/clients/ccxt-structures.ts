/**
 * ccxt's unified structures as its Manual documents them (https://docs.ccxt.com, "Unified API": Market, Ticker,
 * Order Book, Trade, Order, Position, Balance, Funding Rate, Leverage Tier, OHLCV): each checker asserts the
 * documented fields are present with ccxt's types — numbers as JS numbers (not strings), timestamps as integer ms
 * with their ISO-8601 `datetime`, enums from ccxt's sets — and the units relations that hold on every venue.
 */
import assert from 'node:assert/strict';
import type { Balances, Market, OHLCV, Order, OrderBook, Position, Ticker, Trade } from 'ccxt';

type Kind = 'number' | 'string' | 'boolean' | 'object';
/** `obj[key]` is of `kind`, or (when `optional`) undefined / null. */
function field(obj: object, key: string, kind: Kind, optional = false, where = ''): void {
  assert.ok(key in obj, `${where}${key} is missing`);
  const v = (obj as Record<string, unknown>)[key];
  if (optional && (v === undefined || v === null)) return;
  assert.equal(typeof v, kind, `${where}${key}: ${JSON.stringify(v)} is not a ${kind}`);
  if (kind === 'number') assert.ok(Number.isFinite(v), `${where}${key} is not finite`);
}

function timestamped(
  obj: { timestamp?: number | undefined; datetime?: string | undefined },
  where: string,
): void {
  field(obj, 'timestamp', 'number', false, where);
  assert.ok(Number.isInteger(obj.timestamp) && obj.timestamp! > 1_500_000_000_000, `${where}timestamp is ms`);
  assert.equal(
    obj.datetime,
    new Date(obj.timestamp!).toISOString(),
    `${where}datetime is the timestamp's ISO-8601`,
  );
}

export function checkMarket(m: Market): void {
  assert.ok(m);
  const w = `market ${m.symbol}: `;
  for (const k of ['id', 'symbol', 'base', 'quote', 'settle', 'baseId', 'quoteId', 'settleId', 'type'])
    field(m, k, 'string', false, w);
  for (const k of ['spot', 'margin', 'swap', 'future', 'option', 'contract', 'linear', 'inverse', 'active'])
    field(m, k, 'boolean', false, w);
  assert.ok(['swap', 'future', 'option'].includes(m.type), `${w}type`);
  assert.equal(m.contract, true);
  assert.notEqual(m.linear, m.inverse, `${w}linear xor inverse`);
  field(m, 'contractSize', 'number', false, w);
  field(m, 'taker', 'number', false, w);
  field(m, 'maker', 'number', false, w);
  field(m.precision, 'amount', 'number', false, `${w}precision.`);
  field(m.precision, 'price', 'number', false, `${w}precision.`);
  field(m.limits.amount!, 'min', 'number', false, `${w}limits.amount.`);
  field(m.limits.leverage!, 'max', 'number', false, `${w}limits.leverage.`);
  // ccxt's symbol for a contract: BASE/QUOTE:SETTLE[-YYMMDD[-STRIKE-C|P]].
  assert.match(m.symbol, /^[A-Z0-9]+\/[A-Z0-9]+:[A-Z0-9]+(-\d{6}(-[\d.]+-[CP])?)?$/, `${w}symbol`);
  assert.ok(m.symbol.startsWith(`${m.base}/${m.quote}:${m.settle}`), `${w}symbol from base/quote:settle`);
  if (m.swap) assert.equal(m.expiry, undefined, `${w}a swap has no expiry`);
  else field(m, 'expiry', 'number', false, w);
}

export function checkTicker(t: Ticker, symbol: string): void {
  const w = `ticker ${symbol}: `;
  assert.equal(t.symbol, symbol);
  timestamped(t, w);
  for (const k of ['bid', 'bidVolume', 'ask', 'askVolume', 'last', 'close', 'markPrice', 'indexPrice'])
    field(t, k, 'number', true, w);
  if (t.bid !== undefined && t.ask !== undefined) assert.ok(t.bid! < t.ask!, `${w}bid < ask`);
}

export function checkOrderBook(b: OrderBook, symbol: string): void {
  assert.equal(b.symbol, symbol);
  timestamped(b, 'orderbook: ');
  field(b, 'nonce', 'number', false, 'orderbook: ');
  for (const [side, better] of [
    ['bids', (a: number, b: number) => a > b],
    ['asks', (a: number, b: number) => a < b],
  ] as const) {
    const levels = b[side];
    levels.forEach((l, i) => {
      assert.equal(l.length, 2);
      assert.ok(
        typeof l[0] === 'number' && typeof l[1] === 'number' && l[1] > 0,
        `${side}[${i}] [price, amount]`,
      );
      if (i > 0) assert.ok(better(l[0]!, levels[i - 1]![0]!) === false, `${side} best first`);
    });
  }
}

export function checkTrade(t: Trade, symbol: string, contractSize: number): void {
  const w = `trade ${t.id}: `;
  field(t, 'id', 'string', false, w);
  assert.equal(t.symbol, symbol);
  timestamped(t, w);
  assert.ok(t.side === 'buy' || t.side === 'sell', `${w}side`);
  for (const k of ['price', 'amount', 'cost']) field(t, k, 'number', false, w);
  // Linear: cost = amount × contractSize × price (in the quote).
  assert.ok(
    Math.abs(t.cost! - t.amount! * contractSize * t.price!) <= 1e-6 * t.cost!,
    `${w}cost = amount × price`,
  );
  if (t.takerOrMaker !== undefined)
    assert.ok(['taker', 'maker'].includes(t.takerOrMaker), `${w}takerOrMaker`);
  // A public trade has no fee: ccxt leaves `{cost: undefined, currency: undefined}` then.
  if (t.fee?.cost !== undefined) {
    field(t.fee, 'cost', 'number', false, `${w}fee.`);
    field(t.fee, 'currency', 'string', false, `${w}fee.`);
  }
}

export function checkOrder(o: Order, symbol: string): void {
  const w = `order ${o.id}: `;
  field(o, 'id', 'string', false, w);
  field(o, 'clientOrderId', 'string', true, w);
  assert.equal(o.symbol, symbol);
  // ccxt allows an order without a timestamp (an open order read back here carries none; a placement answer does).
  if (o.timestamp !== undefined) timestamped(o, w);
  assert.ok(o.type === 'limit' || o.type === 'market', `${w}type`);
  assert.ok(o.side === 'buy' || o.side === 'sell', `${w}side`);
  assert.ok(
    ['open', 'closed', 'canceled', 'expired', 'rejected'].includes(o.status!),
    `${w}status ${o.status}`,
  );
  for (const k of ['amount', 'filled', 'remaining']) field(o, k, 'number', false, w);
  field(o, 'price', 'number', o.type === 'market', w);
  assert.ok(
    Math.abs(o.filled! + o.remaining! - o.amount!) < 1e-9 || o.status !== 'open',
    `${w}filled + remaining = amount`,
  );
  field(o, 'reduceOnly', 'boolean', false, w);
  field(o, 'postOnly', 'boolean', false, w);
  field(o, 'timeInForce', 'string', false, w);
  assert.ok(Array.isArray(o.trades), `${w}trades`);
}

export function checkPosition(p: Position, symbol: string): void {
  const w = `position ${symbol}: `;
  assert.equal(p.symbol, symbol);
  assert.ok(p.side === 'long' || p.side === 'short', `${w}side`);
  for (const k of [
    'contracts',
    'contractSize',
    'entryPrice',
    'markPrice',
    'notional',
    'leverage',
    'collateral',
  ])
    field(p, k, 'number', false, w);
  for (const k of ['initialMargin', 'maintenanceMargin', 'unrealizedPnl']) field(p, k, 'number', false, w);
  field(p, 'liquidationPrice', 'number', true, w);
  field(p, 'marginRatio', 'number', true, w);
  field(p, 'initialMarginPercentage', 'number', false, w);
  field(p, 'maintenanceMarginPercentage', 'number', false, w);
  assert.ok(p.marginMode === 'isolated' || p.marginMode === 'cross', `${w}marginMode`);
  assert.equal(p.hedged, false);
  // ccxt: notional = contracts × contractSize × markPrice (linear); the percentages are fractions of it.
  assert.ok(
    Math.abs(p.notional! - p.contracts! * p.contractSize! * p.markPrice!) <= 1e-6 * p.notional!,
    `${w}notional`,
  );
  assert.ok(
    p.maintenanceMarginPercentage! > 0 && p.maintenanceMarginPercentage! < 1,
    `${w}mm percentage is a fraction`,
  );
}

export function checkBalance(b: Balances, code: string): void {
  for (const part of ['free', 'used', 'total'] as const) {
    assert.equal(
      typeof (b[part] as unknown as Record<string, number>)[code],
      'number',
      `balance.${part}.${code}`,
    );
    field(b[code]!, part, 'number', false, `balance.${code}.`);
  }
  assert.ok(Math.abs(b[code]!.free! + b[code]!.used! - b[code]!.total!) < 1e-6, 'free + used = total');
}

export function checkOHLCV(rows: OHLCV[]): void {
  let last = 0;
  for (const r of rows) {
    assert.equal(r.length, 6);
    assert.ok(
      r.every((x) => typeof x === 'number'),
      'OHLCV numbers',
    );
    const [t, o, h, l, c] = r as number[];
    assert.ok(t! > last, 'oldest first');
    last = t!;
    assert.ok(l! <= Math.min(o!, c!) && h! >= Math.max(o!, c!), 'low ≤ open, close ≤ high');
  }
}
