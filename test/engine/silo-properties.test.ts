/**
 * Property test of named silos: random streams in which three traders create, fund, trade in, drain and close silos
 * (several each, the same market in two silos, both risk models, every close order) against a deep maker, while the marks walk and jump
 * and the netting parameters change. After every command:
 * - the ledger is conserved and no user balance is negative;
 * - a rejected command changed nothing (state hash);
 * - isolation: a trader (who trades only in silos) sees its main balance move only by deposits, withdrawals and
 *   collateral transfers with its own silos, and auto-add into them (main → that silo, never back); a silo's bucket
 *   moves only against the markets' system accounts (PnL, fees, funding, the liquidation fee), by a collateral
 *   transfer with its owner's main or another of its silos, or by auto-add from its owner's main — never to another
 *   account or silo;
 * - nothing is left below maintenance, and no silo with auto-add on (and no margin call pending) is left at its
 *   trigger without a top-up in that command (streams opt silos in, empty the free balance, and deposit again);
 * - the insurance fund pays out only in a command that liquidates;
 * - each silo's order requirement is the sum of its open orders' reserves, its legs are its account's positions
 *   under `${silo}/${symbol}`, long lots equal short lots on every market.
 * At the end the recorded commands replay on a fresh engine to the same state hash, and a snapshot restores to it.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { formatDecimal } from '../../src/core/fixed.ts';
import { RATE_ONE } from '../../src/core/rates.ts';
import { Engine } from '../../src/engine/engine.ts';
import { stateHash } from '../../src/engine/hash.ts';
import { silosOf } from '../../src/engine/readmodel.ts';
import { available } from '../../src/engine/risk.ts';
import { siloFigures } from '../../src/engine/silos.ts';
import type { Command, EngineEvent } from '../../src/engine/types.ts';
import { assertReplays, BTCUSD, BTCUSDT, type Cmd, ETHUSDT, engineProblems } from './harness.ts';

const TRADERS = ['t0', 't1', 't2'] as const;
const SILOS = ['s0', 's1', 's2'] as const;
const SYMBOLS = ['BTCUSDT', 'ETHUSDT', 'BTCUSD'] as const;
const CENTRE: Record<string, number> = { BTCUSDT: 20_000, ETHUSDT: 2_000, BTCUSD: 20_000 };
/** Tick, its decimals, and how a step's lots become a size string, per market (BTCUSD: inverse, 1 USD contracts, in BTC). */
const SHAPE: Record<string, { tick: number; dp: number; size: (lots: number) => string; asset: string }> = {
  BTCUSDT: { tick: 0.1, dp: 1, size: (l) => (l / 1000).toFixed(3), asset: 'USDT' },
  ETHUSDT: { tick: 0.01, dp: 2, size: (l) => (l / 100).toFixed(2), asset: 'USDT' },
  BTCUSD: { tick: 0.5, dp: 1, size: (l) => String(l * 10), asset: 'BTC' },
};
const START = 1_700_000_000_000;
const HOUR = 3_600_000;

const step = fc.record({
  kind: fc.constantFrom(
    'create',
    'create',
    'close',
    'fund',
    'fund',
    'drain',
    'moveAcross',
    'order',
    'order',
    'order',
    'order',
    'reduce',
    'quote',
    'quote',
    'walk',
    'walk',
    'gap',
    'leverage',
    'cancelAll',
    'netting',
    'deposit',
    'withdraw',
    'hour',
    'autoAdd',
    'autoAdd',
    'allIn',
    'rescue',
    'rebalance',
    'rebalance',
  ),
  who: fc.integer({ min: 0, max: 2 }),
  silo: fc.integer({ min: 0, max: 2 }),
  other: fc.integer({ min: 0, max: 2 }),
  sym: fc.integer({ min: 0, max: 2 }),
  netted: fc.boolean(),
  // A created silo's close order when liquidated: absent (the default) or any of the three, named.
  closeOrder: fc.constantFrom(undefined, 'largestRequirement', 'largestLoss', 'mostRiskPerUnit' as const),
  buy: fc.boolean(),
  lots: fc.integer({ min: 1, max: 2_000 }),
  move: fc.integer({ min: -300, max: 300 }),
  amount: fc.integer({ min: 1, max: 3_000 }),
  lev: fc.constantFrom('5', '10', '25', '50', '100'),
  trigger: fc.constantFrom('0.5', '0.7', '0.8', '0.95'),
});
type Step = typeof step extends fc.Arbitrary<infer S> ? S : never;
/** A created silo's model when not netted. */
const MODELS = ['standalone', 'maxLoss', 'strategy', 'scenario'] as const;

function setup(): { e: Engine; log: Command[]; time: { now: number } } {
  const e = new Engine();
  const log: Command[] = [];
  const time = { now: START };
  const run = (c: Cmd) => {
    const cmd = { ...c, time: ++time.now } as Command;
    log.push(cmd);
    const r = e.apply(cmd);
    assert.ok(r.ok, r.ok ? '' : `${cmd.type}: ${r.message}`);
  };
  run({ type: 'createMarket', market: BTCUSDT });
  // ETH pays hourly funding (longs to shorts, strong enough to matter), settled into whatever holds the position.
  run({
    type: 'createMarket',
    market: {
      ...ETHUSDT,
      funding: {
        intervalMs: HOUR,
        interestRate: '0.01',
        clamp: '0.01',
        cap: { kind: 'none' },
        impactMargin: '200',
      },
    },
  });
  run({ type: 'createMarket', market: BTCUSD });
  run({ type: 'setMarkPrice', symbol: 'BTCUSD', price: '20000' });
  run({ type: 'fundInsurance', asset: 'BTC', amount: '5' });
  run({ type: 'deposit', account: 'mm', asset: 'BTC', amount: '1000' });
  run({ type: 'setMarkPrice', symbol: 'BTCUSDT', price: '20000' });
  run({ type: 'setMarkPrice', symbol: 'ETHUSDT', price: '2000' });
  run({ type: 'fundInsurance', asset: 'USDT', amount: '50000' });
  run({ type: 'deposit', account: 'mm', asset: 'USDT', amount: '10000000' });
  for (const s of SYMBOLS) run({ type: 'setLeverage', account: 'mm', symbol: s, leverage: '1' });
  for (const t of TRADERS) {
    run({ type: 'deposit', account: t, asset: 'USDT', amount: '20000' });
    run({ type: 'deposit', account: t, asset: 'BTC', amount: '2' });
    // A BTC silo for the inverse market: orders from it on USDT markets are refused (ASSET_MISMATCH).
    run({ type: 'createSilo', account: t, silo: 's2', asset: 'BTC', riskModel: 'netted' });
    run({ type: 'transferCollateral', account: t, from: 'free', to: 's2', amount: '0.2' });
    run({ type: 'setLeverage', account: t, symbol: 'BTCUSD', leverage: '50', silo: 's2' });
    // Two silos to start with (one of each model), funded, their legs at high leverage so that moves liquidate.
    for (const [silo, riskModel] of [
      ['s0', 'standalone'],
      ['s1', 'netted'],
    ] as const) {
      run({ type: 'createSilo', account: t, silo, asset: 'USDT', riskModel });
      run({ type: 'transferCollateral', account: t, from: 'free', to: silo, amount: '2000' });
      for (const symbol of ['BTCUSDT', 'ETHUSDT'])
        run({ type: 'setLeverage', account: t, symbol, leverage: '50', silo });
    }
  }
  return { e, log, time };
}

/** A concrete command for a step, read off the live engine (prices near the mark). */
function commandFor(e: Engine, s: Step): Cmd[] {
  const who = TRADERS[s.who]!;
  const sym = SYMBOLS[s.sym]!;
  // Mostly a silo the trader has in the market's asset; now and then any of its silos (another asset: refused) or
  // an id it may not have (unknown: refused), each refusal without effect.
  const silos = e.accounts.get(who)?.silos;
  const own = [...(silos?.keys() ?? [])];
  const fitting = own.filter((id) => silos!.get(id)!.asset === SHAPE[sym]!.asset);
  const pick = (ids: string[]) => ids[s.silo % ids.length]!;
  const silo =
    s.kind === 'create' || s.amount % 8 === 0 || own.length === 0
      ? SILOS[s.silo]!
      : s.amount % 8 === 1 || fitting.length === 0
        ? pick(own)
        : pick(fitting);
  const m = e.markets.get(sym)!;
  const mark = Number(m.mark!) / 1e8;
  const { tick, dp, size } = SHAPE[sym]!;
  const at = (p: number) => (Math.round(p / tick) * tick).toFixed(dp);
  const price = (offsetBp: number) => at(mark * (1 + offsetBp / 10_000));
  // Amounts in the asset of the silo (or the market) the step is about: BTC ones ten-thousand times smaller.
  const asset = e.accounts.get(who)?.silos.get(silo)?.asset ?? SHAPE[sym]!.asset;
  const amount =
    asset === 'BTC' ? (s.amount / 10_000).toFixed(6) : `${s.amount}.${String(s.move + 300).padStart(3, '0')}`;
  switch (s.kind) {
    case 'create':
      return [
        {
          type: 'createSilo',
          account: who,
          silo,
          asset: SHAPE[sym]!.asset,
          // The option strategy models too (issue 18): over perpetuals alone they group the legs per base.
          riskModel: s.netted ? 'netted' : MODELS[s.lots % MODELS.length]!,
          ...(s.closeOrder !== undefined ? { closeOrder: s.closeOrder } : {}),
        },
      ];
    case 'close':
      return [{ type: 'closeSilo', account: who, silo }];
    case 'fund':
      return [{ type: 'transferCollateral', account: who, from: 'free', to: silo, amount }];
    case 'allIn': {
      // Everything available in the silo's asset goes into it, or out of the venue: auto-add then finds nothing
      // free (a margin call) until money arrives again.
      const a = e.accounts.get(who);
      const w = a?.wallets.get(asset);
      const free = a && w ? available(a, w, asset) : 0n;
      if (free <= 0n) return [];
      const all = formatDecimal(free, e.assets.get(asset)!);
      if (s.buy) return [{ type: 'withdraw', account: who, asset, amount: all }];
      return [{ type: 'transferCollateral', account: who, from: 'free', to: silo, amount: all }];
    }
    case 'drain':
      return [{ type: 'transferCollateral', account: who, from: silo, to: 'free', amount }];
    case 'moveAcross':
      return [
        {
          type: 'transferCollateral',
          account: who,
          from: silo,
          to: SILOS[s.other]!,
          amount: asset === 'BTC' ? (s.amount / 10_000).toFixed(6) : String(s.amount),
        },
      ];
    case 'order': {
      // The maker rests the other side at the taker's price first (most orders fill; GTC ones may rest).
      const side = s.buy ? 'buy' : 'sell';
      const at = price(s.move / 10);
      const lots = size(Math.ceil(s.lots / 2));
      return [
        ...(s.amount % 3 !== 0
          ? [
              {
                type: 'placeOrder' as const,
                account: 'mm',
                symbol: sym,
                side: s.buy ? ('sell' as const) : ('buy' as const),
                orderType: 'limit' as const,
                size: lots,
                price: at,
              },
            ]
          : []),
        {
          type: 'placeOrder',
          account: who,
          symbol: sym,
          side,
          orderType: 'limit',
          size: lots,
          price: at,
          timeInForce: s.netted ? 'IOC' : 'GTC',
          silo,
        },
      ];
    }
    case 'reduce': {
      const p = e.accounts.get(who)?.positions.get(`${silo}/${sym}`);
      const lots = p && p.sign !== 0 ? Math.max(1, Math.min(p.lots, s.lots)) : s.lots;
      return [
        {
          type: 'placeOrder',
          account: who,
          symbol: sym,
          side: p && p.sign > 0 ? 'sell' : 'buy',
          orderType: 'market',
          size: size(lots),
          reduceOnly: true,
          silo,
        },
      ];
    }
    case 'quote':
      return [
        { type: 'cancelAll', account: 'mm', symbol: sym },
        {
          type: 'placeOrder',
          account: 'mm',
          symbol: sym,
          side: 'buy',
          orderType: 'limit',
          size: size(s.lots),
          price: price(-5),
        },
        {
          type: 'placeOrder',
          account: 'mm',
          symbol: sym,
          side: 'sell',
          orderType: 'limit',
          size: size(s.lots),
          price: price(5),
        },
      ];
    case 'walk': {
      // Kept within ±30% of the centre so the walk does not wander off.
      const next = Math.min(Math.max(mark * (1 + s.move / 10_000), CENTRE[sym]! * 0.7), CENTRE[sym]! * 1.3);
      return [{ type: 'setMarkPrice', symbol: sym, price: at(next) }];
    }
    case 'gap': {
      const next = Math.min(Math.max(mark * (1 + s.move / 1_500), CENTRE[sym]! * 0.6), CENTRE[sym]! * 1.4);
      return [{ type: 'setMarkPrice', symbol: sym, price: at(next) }];
    }
    case 'leverage':
      return [{ type: 'setLeverage', account: who, symbol: sym, leverage: s.lev, silo }];
    case 'cancelAll':
      return [{ type: 'cancelAll', account: who }];
    case 'netting':
      return [
        {
          type: 'setNetting',
          floor: s.netted ? '0.25' : '0.5',
          correlations: [{ a: 'BTC', b: 'ETH', rho: (s.move / 300).toFixed(2) }],
        },
      ];
    case 'deposit':
      return [{ type: 'deposit', account: who, asset, amount }];
    case 'withdraw':
      return [{ type: 'withdraw', account: who, asset, amount }];
    case 'hour':
      return [{ type: 'tick' }];
    case 'autoAdd':
      // Mostly on (either policy), now and then off; on a silo the trader may not have (refused).
      return [
        {
          type: 'setAutoAddMargin',
          account: who,
          silo,
          enabled: s.lots % 5 !== 0,
          policy: s.netted ? 'addInitialMargin' : 'restoreInitialMargin',
          trigger: s.trigger,
        },
      ];
    case 'rebalance': {
      // The rebalancing agent on (mostly) for the step's asset: givers and receivers picked from the trader's silos
      // by the bits of `lots` (sometimes one the trader does not have, or of another asset: refused), limits now and
      // then. Off one time in six.
      const ids = [...SILOS];
      const givers = ids.filter((_, i) => (s.lots >> i) & 1);
      const receivers = ids.filter((_, i) => (s.lots >> (i + 3)) & 1);
      const on = s.lots % 6 !== 0;
      return [
        {
          type: 'setRebalancing',
          account: who,
          asset,
          enabled: on,
          givers: givers.length > 0 ? givers : [silo],
          receivers: receivers.length > 0 ? receivers : [SILOS[s.other]!],
          trigger: s.trigger,
          ...(s.netted ? { target: '0.3' } : {}),
          buffer: s.buy ? '0' : '0.2',
          ...(s.amount % 3 === 0 ? { maxPerMove: asset === 'BTC' ? '0.01' : '100' } : {}),
          ...(s.amount % 5 === 0 ? { maxPerDay: asset === 'BTC' ? '0.02' : '250' } : {}),
        },
      ];
    }
    case 'rescue': {
      // Money arrives after a margin call: the called silo (if any) is topped up from it in the same command.
      const called = [...(silos?.values() ?? [])].find((x) => x.marginCalled);
      const into = called?.asset ?? 'USDT';
      return [{ type: 'deposit', account: who, asset: into, amount: into === 'BTC' ? '0.05' : '500' }];
    }
  }
  return [];
}

const SYSTEM = /^(clearing|fees|insurance|funding):/;

/** A rebalance transfer's two silos are a giver and a receiver of the owner's settings in its asset. */
function rebalanceAllowed(e: Engine, ev: Extract<EngineEvent, { type: 'transfer' }>): boolean {
  const [owner, , from] = ev.from.split(':');
  const [, , to] = ev.to.split(':');
  const r = e.accounts.get(owner!)?.rebalancing.get(ev.asset);
  return r?.givers.includes(from!) === true && r.receivers.includes(to!) && from !== to;
}
const ownerOf = (label: string) => label.split(':')[0]!;

/** Every guarantee of the module comment for one command; returns the problems found. */
function check(e: Engine, cmd: Command, ok: boolean, events: EngineEvent[], hashBefore: string): string[] {
  const bad: string[] = [];
  if (!ok && stateHash(e) !== hashBefore) bad.push('a rejected command changed the state');
  // The whole-engine reference checks (ledger, books, open interest, orders, the index, nothing left below
  // maintenance) see named silos' legs too.
  bad.push(...engineProblems(e));
  const liquidating = events.some((ev) => ev.type === 'liquidation');
  // Funding larger than what holds the position is the fund's too (recorded): the one draw outside a liquidation.
  const fundingShort = events.some((ev) => ev.type === 'fundingPaid' && ev.shortfall > 0n);
  for (const ev of events) {
    if (ev.type === 'insuranceDraw' && !liquidating && !fundingShort)
      bad.push(`insurance drawn outside a liquidation: ${ev.symbol}`);
    if (ev.type !== 'transfer') continue;
    if (
      ev.from.startsWith('insurance:') &&
      ev.reason === 'insuranceCover' &&
      !liquidating &&
      !ev.to.startsWith('funding:')
    )
      bad.push('insurance paid outside a liquidation');
    for (const [mine, other] of [
      [ev.from, ev.to],
      [ev.to, ev.from],
    ] as const) {
      const trader = (TRADERS as readonly string[]).includes(ownerOf(mine));
      if (trader && mine.includes(':main:')) {
        const fine =
          ((ev.reason === 'deposit' || ev.reason === 'withdraw') && other.startsWith('external:')) ||
          (ev.reason === 'collateralTransfer' && other.startsWith(`${ownerOf(mine)}:silo:`)) ||
          // Auto-add only ever moves main → one of the owner's silos.
          (ev.reason === 'autoAddMargin' && ev.from === mine && other.startsWith(`${ownerOf(mine)}:silo:`));
        if (!fine) bad.push(`${mine} moved against ${other} (${ev.reason})`);
      }
      if (mine.includes(':silo:')) {
        const fine =
          SYSTEM.test(other) ||
          (ev.reason === 'collateralTransfer' &&
            ownerOf(other) === ownerOf(mine) &&
            (other.includes(':main:') || other.includes(':silo:'))) ||
          (ev.reason === 'autoAddMargin' &&
            ev.to === mine &&
            other === `${ownerOf(mine)}:main:${ev.asset}`) ||
          // The rebalancing agent: only from a giver to a receiver of the owner's settings in that asset.
          (ev.reason === 'rebalance' && ownerOf(other) === ownerOf(mine) && rebalanceAllowed(e, ev));
        if (!fine) bad.push(`${mine} moved against ${other} (${ev.reason})`);
      }
    }
  }
  const longs = new Map<string, number>();
  const shorts = new Map<string, number>();
  for (const a of e.accounts.values()) {
    for (const silo of a.silos.values()) {
      let req = 0n;
      for (const o of a.orders.values()) if (o.position.silo === silo) req += o.reserved;
      if (req !== silo.orderRequirement)
        bad.push(`${a.id}/${silo.id}: order requirement ${silo.orderRequirement} != ${req}`);
      for (const [sym, p] of silo.positions)
        if (a.positions.get(`${silo.id}/${sym}`) !== p)
          bad.push(`${a.id}/${silo.id}/${sym}: not the account's leg`);
      if (silo.bucket.balance < 0n) bad.push(`${silo.bucket.label} negative`);
      // Filing is never late: a silo the marks have put below maintenance was liquidated in the same command.
      const f = siloFigures(e, silo);
      if (f.legs.length > 0 && f.equity < f.maintenanceMargin)
        bad.push(`${a.id}/${silo.id} left below maintenance: equity ${f.equity} < ${f.maintenanceMargin}`);
      // Auto-add is never late either: a silo left at its trigger was topped up in this command or called.
      const reached =
        silo.autoAdd !== null &&
        (f.equity <= 0n || f.maintenanceMargin * RATE_ONE >= silo.autoAdd.trigger * f.equity);
      const added = events.some(
        (ev) => ev.type === 'autoAddMargin' && ev.account === a.id && ev.silo === silo.id,
      );
      if (f.legs.length > 0 && reached && !silo.marginCalled && !added)
        bad.push(
          `${a.id}/${silo.id} left at its auto-add trigger: equity ${f.equity}, ${f.maintenanceMargin}`,
        );
      // Nor is the agent: a receiver left at its trigger was looked at in this command (and parked).
      const r = a.rebalancing.get(silo.asset);
      const receiver = r?.receivers.includes(silo.id);
      const atTrigger =
        receiver && (f.equity <= 0n || f.maintenanceMargin * RATE_ONE >= r!.trigger * f.equity);
      if (f.legs.length > 0 && atTrigger && !silo.rebalanceParked)
        bad.push(`${a.id}/${silo.id} left at its rebalancing trigger, not parked`);
      if (silo.rebalanceParked && !receiver) bad.push(`${a.id}/${silo.id} parked but no receiver`);
    }
    // The agent never takes a giver below its floor (initial margin × (1 + buffer) when it moved).
    for (const ev of events) {
      if (ev.type !== 'collateralRebalanced' || ev.account !== a.id) continue;
      const g = a.silos.get(ev.from);
      if (g === undefined) continue;
      const f = siloFigures(e, g, 'requirement');
      if (f.equity < ev.giverFloor)
        bad.push(`${a.id}/${ev.from} gave below its floor: ${f.equity} < ${ev.giverFloor}`);
    }
    for (const p of a.positions.values()) {
      if (p.silo !== null && p.bucket.balance !== 0n) bad.push(`${a.id}: a leg's own bucket holds money`);
      const into = p.sign > 0 ? longs : shorts;
      into.set(p.market.symbol, (into.get(p.market.symbol) ?? 0) + p.lots);
    }
  }
  for (const s of SYMBOLS)
    if ((longs.get(s) ?? 0) !== (shorts.get(s) ?? 0)) bad.push(`${s}: long lots != short lots`);
  if (bad.length > 0) bad.unshift(`after ${JSON.stringify(cmd)}`);
  return bad;
}

/** Across all runs: what the streams did (printed at the end, so a stream that does nothing shows). */
const stats = new Map<string, number>();
const count = (k: string) => stats.set(k, (stats.get(k) ?? 0) + 1);

function runStream(steps: Step[]): void {
  const { e, log, time } = setup();
  for (const s of steps) {
    for (const c of commandFor(e, s)) {
      if (c.type === 'tick') time.now += HOUR;
      const cmd = { ...c, time: ++time.now } as Command;
      log.push(cmd);
      const before = stateHash(e);
      const r = e.apply(cmd);
      count(r.ok ? `ok ${cmd.type}` : `rejected ${r.code}`);
      if (r.ok)
        for (const ev of r.events) {
          if (ev.type === 'liquidationStarted')
            count(ev.silo === undefined ? 'liquidation default' : 'liquidation silo');
          if (ev.type === 'trade') count('trade');
          if (ev.type === 'trade') count(`trade ${ev.symbol}`);
          if (ev.type === 'liquidationStarted' && ev.silo !== undefined)
            count(`silo liquidation ${ev.symbol}`);
          if (ev.type === 'insuranceDraw') count('insurance draw');
          if (ev.type === 'autoAddMargin' && ev.silo !== undefined) count('silo auto-add');
          if (ev.type === 'marginCall' && ev.silo !== undefined) count('silo margin call');
          if (ev.type === 'adl') count('adl');
          if (ev.type === 'collateralRebalanced') count(`rebalance ${ev.reason}`);
          if (ev.type === 'fundingPaid' && ev.account.startsWith('t')) count('trader funding');
        }
      const problems = check(e, cmd, r.ok, r.ok ? r.events : [], before);
      assert.deepEqual(problems, []);
    }
  }
  for (const t of TRADERS) silosOf(e, t); // read models do not throw
  assertReplays(log, e);
}

describe('silo properties', () => {
  test('random silo streams: conservation, per-silo isolation, no-op rejections, insurance only in liquidations', {
    timeout: 60_000,
  }, () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 40, maxLength: 160 }), (steps) => runStream(steps)),
      {
        numRuns: Number(process.env.SILO_RUNS ?? 150),
        seed: process.env.SILO_SEED ? Number(process.env.SILO_SEED) : undefined,
      },
    );
    console.log(
      `  silo streams: ${[...stats]
        .sort()
        .map(([k, n]) => `${k}:${n}`)
        .join(' ')}`,
    );
    for (const k of [
      'ok placeOrder',
      'ok closeSilo',
      'ok transferCollateral',
      'trade',
      'liquidation silo',
      'ok setRebalancing',
    ])
      assert.ok((stats.get(k) ?? 0) > 0, `the streams never did ${k}`);
  });
});
