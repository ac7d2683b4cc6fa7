/**
 * Memory: heap bytes per open position and per resting order, on the real engine driven by real commands.
 *
 *   npm run bench -- memory [--positions 1000000] [--orders 1000000] [--levels 10000] [--deadline 900]
 *
 * Each measurement runs in its own child process (a fresh node, killed after --deadline seconds), so one's heap
 * does not pollute the other's; a child is this bench with the internal argument --child-positions N or
 * --child-orders N. Every heap reading follows a forced full GC (twice); each child first runs a small throwaway
 * engine through the same commands, so code compiled on first use is on the heap before the baseline.
 *
 * 1. Positions (as bench/fixture.ts engineWithPositions: one isolated position per account, N/2 long and N/2
 *    short, leverage 2–49x, each pair matched at the index so the book ends empty). Readings: the engine set up
 *    (market, oracle sources), then N funded accounts (per-account cost), then the N positions opened and filed
 *    in the liquidation index by one mark update (per-position cost, of which the index is reported apart).
 * 2. Resting orders: N non-crossing GTC bids spread over --levels price levels below the mark (at most
 *    MAX_LEVELS_PER_SIDE), from ⌈N / MAX_OPEN_ORDERS_PER_ACCOUNT⌉ funded accounts holding the per-account maximum.
 *    The baseline has those accounts funded with their (flat) position already created by setLeverage, so the
 *    figure is the order's own cost: order, book node, account index, reserve, and the level cost amortized.
 *
 * Bytes are V8 heapUsed differences (objects, bigints, Map/Set tables at their grown capacity), not RSS; RSS and
 * the setup times are printed for context only.
 */
import { MAX_OPEN_ORDERS_PER_ACCOUNT } from '../src/engine/account.ts';
import { Engine } from '../src/engine/engine.ts';
import { MAX_LEVELS_PER_SIDE } from '../src/engine/market.ts';
import { FUNDED_MARKET, must, T0 } from './fixture.ts';
import { benchChild, checkArgs, fmtInt, intArg, parseArgs, round, say } from './lib.ts';
import { fullGc } from './matching-book.ts';

const KNOWN = ['positions', 'orders', 'levels', 'deadline', 'child-positions', 'child-orders'];
const SYMBOL = 'BTCUSDT';
/** The index price; bids rest from one tick below it downwards. */
const MARK_TICKS = 600_000; // 60000.0 at tick 0.1

interface Reading {
  heapUsed: number;
  rss: number;
}

/** Heap and RSS in bytes after a full GC (twice: the first may only queue what the second frees). */
function reading(): Reading {
  fullGc();
  fullGc();
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, rss: m.rss };
}

const mib = (b: number) => round(b / (1024 * 1024), 1);
const secondsSince = (t0: bigint) => round(Number(process.hrtime.bigint() - t0) / 1e9, 1);

function show(phase: string, r: Reading, s?: number): void {
  say(
    `  ${phase}: heapUsed ${fmtInt(mib(r.heapUsed))} MiB, rss ${fmtInt(mib(r.rss))} MiB` +
      (s === undefined ? '' : ` (set up in ${s} s)`),
  );
}

/** A market with a mark: three oracle sources at 60000. */
function setUpEngine(): Engine {
  const e = new Engine();
  must(e, { type: 'createMarket', time: T0, market: FUNDED_MARKET });
  for (const s of ['a', 'b', 'c'])
    must(e, { type: 'oracleQuote', time: T0, symbol: SYMBOL, source: s, price: '60000' });
  return e;
}

// ---------------------------------------------------------------------------------------------------------
// Positions

function fundPairs(e: Engine, pairs: number, onProgress?: (done: number) => void): void {
  for (let i = 0; i < pairs; i++) {
    must(e, { type: 'deposit', time: T0, account: `s${i}`, asset: 'USDT', amount: '100000' });
    must(e, { type: 'deposit', time: T0, account: `l${i}`, asset: 'USDT', amount: '100000' });
    if (onProgress && i % 100_000 === 0) onProgress(2 * i);
  }
}

/** What engineWithPositions does after the deposits: each pair's sell rests and its buy takes it at 60000. */
function openPairs(e: Engine, pairs: number, onProgress?: (done: number) => void): void {
  for (let i = 0; i < pairs; i++) {
    const size = `0.${String(1 + (i % 500)).padStart(3, '0')}`;
    const leverage = String(2 + (i % 48));
    for (const [account, side] of [
      [`s${i}`, 'sell'],
      [`l${i}`, 'buy'],
    ] as const) {
      must(e, { type: 'setLeverage', time: T0, account, symbol: SYMBOL, leverage });
      must(e, {
        type: 'placeOrder',
        time: T0,
        account,
        symbol: SYMBOL,
        side,
        orderType: 'limit',
        price: '60000',
        size,
      });
    }
    if (onProgress && i % 100_000 === 0) onProgress(2 * i);
  }
}

/** One mark update: files every position opened since the last sweep in the liquidation index. */
function fileIndex(e: Engine): void {
  must(e, { type: 'oracleQuote', time: T0 + 1_000, symbol: SYMBOL, source: 'a', price: '60000' });
}

/** The same commands on a throwaway engine, so first-use code is compiled before the baseline (in its own frame). */
function warmPositions(): void {
  const warm = setUpEngine();
  fundPairs(warm, 2_000);
  openPairs(warm, 2_000);
  fileIndex(warm);
}

function measurePositions(n: number): Record<string, unknown> {
  if (n < 2 || n % 2 !== 0) throw new Error(`--positions must be even and ≥ 2, got ${n}`);
  const pairs = n / 2;
  warmPositions();
  say(`positions: ${fmtInt(n)} (one isolated position per account, ${fmtInt(n)} accounts)`);
  const e = setUpEngine();
  const r0 = reading();
  show('engine set up (market, oracle sources)', r0);

  let t = process.hrtime.bigint();
  fundPairs(e, pairs, (d) => d > 0 && say(`    funding accounts: ${fmtInt(d)}`));
  const fundS = secondsSince(t);
  if (e.accounts.size !== n) throw new Error(`expected ${n} accounts, the engine holds ${e.accounts.size}`);
  const r1 = reading();
  show(`${fmtInt(n)} funded accounts`, r1, fundS);

  t = process.hrtime.bigint();
  openPairs(e, pairs, (d) => d > 0 && say(`    opening positions: ${fmtInt(d)}`));
  const openS = secondsSince(t);
  const m = e.market(SYMBOL);
  const r2 = reading();
  show(`${fmtInt(n)} open positions, not yet in the liquidation index`, r2, openS);
  t = process.hrtime.bigint();
  fileIndex(e);
  const indexS = secondsSince(t);

  // Sanity: the engine holds N open positions, every one filed, and nothing rests.
  let open = 0;
  for (const p of m.positions) if (p.sign !== 0) open++;
  if (open !== n || m.openPositions !== n)
    throw new Error(`expected ${n} open positions, counted ${open} (market says ${m.openPositions})`);
  if (m.liqIndex.size !== n) throw new Error(`expected ${n} filed positions, index holds ${m.liqIndex.size}`);
  if (m.book.orderCount() !== 0)
    throw new Error(`expected an empty book, ${m.book.orderCount()} orders rest`);
  if (e.accounts.size !== n) throw new Error(`expected ${n} accounts, the engine holds ${e.accounts.size}`);
  const r3 = reading();
  show(`${fmtInt(n)} open positions filed in the liquidation index`, r3, indexS);

  const bytesPerAccount = round((r1.heapUsed - r0.heapUsed) / n);
  const bytesPerPosition = round((r3.heapUsed - r1.heapUsed) / n);
  const bytesPerPositionIndex = round((r3.heapUsed - r2.heapUsed) / n);
  say(
    `  → ${fmtInt(bytesPerPosition)} B per open position (of which the liquidation index ${fmtInt(bytesPerPositionIndex)} B), ` +
      `plus ${fmtInt(bytesPerAccount)} B per funded account`,
  );
  return {
    positions: n,
    accounts: e.accounts.size,
    bytesPerPosition,
    bytesPerPositionIndex,
    bytesPerAccount,
    heapUsedMiB: {
      engine: mib(r0.heapUsed),
      accounts: mib(r1.heapUsed),
      positionsUnfiled: mib(r2.heapUsed),
      positions: mib(r3.heapUsed),
    },
    rssMiB: {
      engine: mib(r0.rss),
      accounts: mib(r1.rss),
      positionsUnfiled: mib(r2.rss),
      positions: mib(r3.rss),
    },
    setupS: { accounts: fundS, positions: openS, index: indexS },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Resting orders

const makerId = (j: number) => `m${j}`;

/** Funded accounts with their flat position on the market already created (setLeverage creates it). */
function fundMakers(e: Engine, accounts: number): void {
  for (let j = 0; j < accounts; j++) {
    const account = makerId(j);
    must(e, { type: 'deposit', time: T0, account, asset: 'USDT', amount: '100000' });
    must(e, { type: 'setLeverage', time: T0, account, symbol: SYMBOL, leverage: '10' });
  }
}

/**
 * `n` bids, order i at level i mod `levels` (one tick apart, from one tick below the mark down), from account
 * ⌊i / MAX_OPEN_ORDERS_PER_ACCOUNT⌋; sizes 0.001–0.005. None crosses: there are no asks.
 */
function placeBids(e: Engine, n: number, levels: number, onProgress?: (done: number) => void): void {
  for (let i = 0; i < n; i++) {
    const ticks = MARK_TICKS - 1 - (i % levels);
    const r = e.apply({
      type: 'placeOrder',
      time: T0,
      account: makerId(Math.floor(i / MAX_OPEN_ORDERS_PER_ACCOUNT)),
      symbol: SYMBOL,
      side: 'buy',
      orderType: 'limit',
      timeInForce: 'GTC',
      price: `${Math.floor(ticks / 10)}.${ticks % 10}`,
      size: `0.00${1 + (i % 5)}`,
    });
    if (!r.ok) throw new Error(`bid ${i}: ${r.code} ${r.message}`);
    if (r.events.some((ev) => ev.type === 'orderCanceled' || ev.type === 'trade'))
      throw new Error(`bid ${i} did not rest`);
    if (onProgress && i % 200_000 === 0) onProgress(i);
  }
}

/** As warmPositions, for the order path. */
function warmOrders(levels: number): void {
  const warm = setUpEngine();
  fundMakers(warm, 20);
  placeBids(warm, 20 * MAX_OPEN_ORDERS_PER_ACCOUNT, Math.min(levels, 1_000));
}

function measureOrders(n: number, levels: number): Record<string, unknown> {
  if (n < 1) throw new Error('--orders must be ≥ 1');
  if (levels < 1 || levels > MAX_LEVELS_PER_SIDE)
    throw new Error(`--levels must be 1..${MAX_LEVELS_PER_SIDE} (the book's per-side cap), got ${levels}`);
  const priceLevels = Math.min(levels, n);
  const accounts = Math.ceil(n / MAX_OPEN_ORDERS_PER_ACCOUNT);
  warmOrders(priceLevels);
  say(
    `resting orders: ${fmtInt(n)} GTC bids over ${fmtInt(priceLevels)} price levels ` +
      `(${fmtInt(Math.ceil(n / priceLevels))} per level at most), from ${fmtInt(accounts)} accounts ` +
      `(≤ ${MAX_OPEN_ORDERS_PER_ACCOUNT} open orders each)`,
  );
  const e = setUpEngine();
  const r0 = reading();
  show('engine set up (market, oracle sources)', r0);

  let t = process.hrtime.bigint();
  fundMakers(e, accounts);
  const fundS = secondsSince(t);
  const r1 = reading();
  show(`${fmtInt(accounts)} funded accounts with a flat position`, r1, fundS);

  t = process.hrtime.bigint();
  placeBids(e, n, priceLevels, (d) => d > 0 && say(`    placing bids: ${fmtInt(d)}`));
  const placeS = secondsSince(t);

  // Sanity: the book and the accounts hold N resting orders over the expected levels; nothing traded.
  const m = e.market(SYMBOL);
  let held = 0;
  for (const a of e.accounts.values()) held += a.orders.size;
  if (m.book.orderCount() !== n || held !== n)
    throw new Error(`expected ${n} resting orders, book has ${m.book.orderCount()}, accounts hold ${held}`);
  if (m.book.levelCount('buy') !== priceLevels || m.book.levelCount('sell') !== 0)
    throw new Error(`expected ${priceLevels} bid levels and no asks, got ${m.book.levelCount('buy')}`);
  if (m.openPositions !== 0) throw new Error(`expected no open positions, got ${m.openPositions}`);
  const r2 = reading();
  show(`${fmtInt(n)} resting orders`, r2, placeS);

  const bytesPerRestingOrder = round((r2.heapUsed - r1.heapUsed) / n);
  const bytesPerAccount = round((r1.heapUsed - r0.heapUsed) / accounts);
  say(
    `  → ${fmtInt(bytesPerRestingOrder)} B per resting order at ${fmtInt(priceLevels)} levels ` +
      `(${fmtInt(bytesPerAccount)} B per funded account with a flat position)`,
  );
  return {
    orders: n,
    priceLevels,
    accounts,
    bytesPerRestingOrder,
    bytesPerAccountWithFlatPosition: bytesPerAccount,
    heapUsedMiB: { engine: mib(r0.heapUsed), accounts: mib(r1.heapUsed), orders: mib(r2.heapUsed) },
    rssMiB: { engine: mib(r0.rss), accounts: mib(r1.rss), orders: mib(r2.rss) },
    setupS: { accounts: fundS, orders: placeS },
  };
}

// ---------------------------------------------------------------------------------------------------------

/** One child's figures without the harness's `bench` key. */
async function inChild(args: string[], deadlineS: number): Promise<Record<string, unknown>> {
  const { bench: _name, ...figures } = await benchChild('memory', args, deadlineS * 1000, '  ');
  return figures;
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const a = parseArgs(args);
  checkArgs(a, KNOWN);
  const levels = intArg(a, 'levels', MAX_LEVELS_PER_SIDE);
  if (a.has('child-positions')) return measurePositions(intArg(a, 'child-positions', 0));
  if (a.has('child-orders')) return measureOrders(intArg(a, 'child-orders', 0), levels);
  const positions = intArg(a, 'positions', 1_000_000);
  const orders = intArg(a, 'orders', 1_000_000);
  const deadlineS = intArg(a, 'deadline', 900);
  say('each measurement in its own process:');
  const p = await inChild(['--child-positions', String(positions)], deadlineS);
  const o = await inChild(['--child-orders', String(orders), '--levels', String(levels)], deadlineS);
  say(
    `bytes per open position ${fmtInt(p.bytesPerPosition as number)} (+ ${fmtInt(p.bytesPerAccount as number)} per account), ` +
      `per resting order ${fmtInt(o.bytesPerRestingOrder as number)} (${fmtInt(o.priceLevels as number)} levels)`,
  );
  return {
    positions: p.positions,
    bytesPerPosition: p.bytesPerPosition,
    bytesPerPositionIndex: p.bytesPerPositionIndex,
    bytesPerAccount: p.bytesPerAccount,
    orders: o.orders,
    priceLevels: o.priceLevels,
    orderAccounts: o.accounts,
    bytesPerRestingOrder: o.bytesPerRestingOrder,
    heapUsedMiB: { positions: p.heapUsedMiB, orders: o.heapUsedMiB },
    rssMiB: { positions: p.rssMiB, orders: o.rssMiB },
    setupS: { positions: p.setupS, orders: o.setupS },
    deadlineS,
  };
}
