/**
 * Option marks + Greeks for one expiry's strike chain on each vol update: the fixed-point Black-76
 * (src/core/options, bigint), the integer-number kernel (black76-int.ts) and a plain float Black-76 in the same run.
 *
 *   npm run bench -- options [--strikes 1000] [--updates 20] [--reps 7] [--warmup 5]
 *
 * A vol update brings a new smile; every strike of the expiry is re-marked (price, delta, gamma, vega, theta for
 * call and put). The smile's vols are computed before timing (SVI is not part of the figure); the forward and √T are
 * per-expiry constants (Black76Chain precomputes ln(F/K) and √T once, as the engine would on a vol-only update).
 * The integer kernel is timed twice: `mark` (the kernel alone; its outputs are exact integers, converted to bigint
 * WAD only when read) and `price` (the kernel plus the conversion of all seven outputs of every strike to bigint).
 * Every side gets the same warm-up; timed reps rotate which side runs first; the first call of each (cold JIT) is
 * reported apart from the steady state, and each module load (tables built from series) apart from both.
 *
 * The engine's own path on the same chain, listed as calls and puts (2·strikes option markets, no holders): the
 * `volQuote` command applied (parse the 1,000-strike smile, validate it on every market, re-mark: IV per strike,
 * the integer chain kernel, premiums to priceDp, markPrice events) and `remarkOptions` alone (the smile already
 * parsed). Each update is a second later than the last, so the cached chain is re-targeted to the new time (`at`)
 * every time, as a live feed would need; a spot move (`setMarkPrice` on the underlying) moves the chain to the new
 * forward (`withForward`: ln F − ln K from the strikes' cached logs) and is timed too, as is the engine's former path (bigint `priceOption` market by market). The engine
 * caps markets at 256 (MAX_MARKETS), so beyond the first createOptionChain the bench adds the chain's markets to the
 * state directly, with the same configs; everything timed is the engine's code.
 */
import { cumnormFloat, pdfFloat } from '../test/core/float-reference.ts';
import { checkArgs, fmtInt, intArg, parseArgs, round, say } from './lib.ts';

// Float reference: textbook Black-76 on the tests' double-precision normal CDF and density.

interface FloatResult {
  call: number;
  put: number;
  callDelta: number;
  putDelta: number;
  gamma: number;
  vega: number;
  theta: number;
}

/** Float chain: same outputs per strike as Black76Chain.price, √T shared per expiry as well. */
function floatChain(
  F: number,
  t: number,
  strikes: readonly number[],
  vols: readonly number[],
): FloatResult[] {
  const sqrtT = Math.sqrt(t);
  const out: FloatResult[] = new Array(strikes.length);
  for (let i = 0; i < strikes.length; i++) {
    const K = strikes[i] as number;
    const vol = vols[i] as number;
    const v = vol * sqrtT;
    const d1 = (Math.log(F / K) + 0.5 * v * v) / v;
    const d2 = d1 - v;
    const n1 = cumnormFloat(d1);
    const n2 = cumnormFloat(d2);
    const pdf = pdfFloat(d1);
    out[i] = {
      call: F * n1 - K * n2,
      put: K * (1 - n2) - F * (1 - n1),
      callDelta: n1,
      putDelta: n1 - 1,
      gamma: pdf / (F * v),
      vega: F * pdf * sqrtT,
      theta: (-F * pdf * vol) / (2 * sqrtT),
    };
  }
  return out;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const a = parseArgs(args);
  checkArgs(a, ['strikes', 'updates', 'reps', 'warmup']);
  const nStrikes = intArg(a, 'strikes', 1000);
  const updates = intArg(a, 'updates', 20);
  const reps = intArg(a, 'reps', 7);
  const warmup = intArg(a, 'warmup', 5);

  // Imported here so that the table build at module load (exp/ln/normal tables, from series) is timed on its own.
  const loadStart = process.hrtime.bigint();
  const { Black76Chain, black76, yearsFromSeconds } = await import('../src/core/options/black76.ts');
  const { WAD } = await import('../src/core/options/fixedmath.ts');
  const moduleLoadMs = Number(process.hrtime.bigint() - loadStart) / 1e6;
  const intLoadStart = process.hrtime.bigint();
  const { Black76IntChain } = await import('../src/core/options/black76-int.ts');
  const intLoadMs = Number(process.hrtime.bigint() - intLoadStart) / 1e6;
  const { formatDecimal } = await import('../src/core/fixed.ts');
  const { Engine } = await import('../src/engine/engine.ts');
  const { Market } = await import('../src/engine/market.ts');
  const { optionSymbol } = await import('../src/engine/commands/options.ts');
  const { linkOptions, registerOptionMarket, remarkOptions } = await import('../src/engine/options.ts');
  const { parseSmile, priceOption } = await import('../src/engine/option-terms.ts');

  // BTC-like chain: forward 60,000, 30 days, strikes 30,000 … 120,000, a smile that shifts on each update.
  const forward = 60_000n * WAD;
  const seconds = 30 * 86_400;
  const years = yearsFromSeconds(seconds);
  const strikes = Array.from(
    { length: nStrikes },
    (_, i) => 30_000n * WAD + (BigInt(i) * 90_000n * WAD) / BigInt(nStrikes),
  );
  const volsFor = (u: number): bigint[] =>
    strikes.map((k) => {
      const m = Number(k / 10n ** 14n) / 6e8 - 1; // K/F − 1, only to shape the smile
      const vol = 0.5 + 0.4 * m * m - 0.05 * m + 0.002 * (u % 17);
      return BigInt(Math.round(vol * 1e9)) * 10n ** 9n;
    });
  const smiles = Array.from({ length: updates }, (_, u) => volsFor(u));
  const floatSmiles = smiles.map((vs) => vs.map((v) => Number(v) / 1e18));
  const floatStrikes = strikes.map((k) => Number(k) / 1e18);
  const F = Number(forward) / 1e18;
  const t = Number(years) / 1e18;

  let sink = 0n;
  let fsink = 0;
  const chain = new Black76Chain(forward, years, strikes);
  const fixedUpdate = (u: number) => {
    const r = chain.price(smiles[u % updates] as bigint[]);
    sink += (r[0] as { call: bigint }).call + (r[r.length - 1] as { theta: bigint }).theta;
  };
  const floatUpdate = (u: number) => {
    const r = floatChain(F, t, floatStrikes, floatSmiles[u % updates] as number[]);
    fsink += (r[0] as FloatResult).call + (r[r.length - 1] as FloatResult).theta;
  };
  const intChain = new Black76IntChain(forward, years, strikes);
  let isink = 0;
  const intMarkUpdate = (u: number) => {
    const m = intChain.mark(smiles[u % updates] as bigint[]);
    isink += (m.phi[0] as number) + (m.dA[nStrikes - 1] as number);
  };
  const intPriceUpdate = (u: number) => {
    const r = intChain.price(smiles[u % updates] as bigint[]);
    sink += (r[0] as { call: bigint }).call + (r[r.length - 1] as { theta: bigint }).theta;
  };

  // The engine: BTCUSDT at the forward, the chain's calls and puts expiring 30 days after the first update.
  const T0 = Date.UTC(2026, 11, 1);
  const expiry = T0 + seconds * 1000;
  const e = new Engine();
  let clock = T0 - 3000; // the chain is created at T0, expiring 30 days later
  const apply = (cmd: Record<string, unknown>) => {
    clock += 1000; // a second per command: every vol update re-targets the chain to a new time
    const r = e.apply({ ...cmd, time: clock } as import('../src/engine/types.ts').Command);
    if (!r.ok) throw new Error(`${String(cmd.type)}: ${r.code} ${r.message}`);
    return r;
  };
  apply({
    type: 'createMarket',
    market: {
      symbol: 'BTCUSDT',
      kind: 'linear',
      base: 'BTC',
      quote: 'USDT',
      tickSize: '0.01',
      lotSize: '0.001',
      settleDp: 8,
      maxLeverage: '100',
      takerFee: '0.0005',
      makerFee: '0.0002',
      risk: { kind: 'brackets', tiers: [{ cap: null, mmr: '0.005', maxLeverage: '100' }] },
    },
  });
  apply({ type: 'setMarkPrice', symbol: 'BTCUSDT', price: formatDecimal(forward, 18) });
  const strikeText = strikes.map((k) => formatDecimal(k, 18));
  const first = Math.min(nStrikes, 100);
  apply({
    type: 'createOptionChain',
    underlying: 'BTCUSDT',
    settle: 'linear',
    expiries: [expiry],
    strikes: strikeText.slice(0, first),
    tickSize: '0.01',
    lotSize: '0.01',
    vol: { stalenessMs: 86_400_000, maxJump: '10' },
  });
  // Past MAX_MARKETS: the rest of the chain straight into the state, configs as createOptionChain builds them.
  const template = e.markets.get(
    optionSymbol('BTC', 'USDT', 'linear', expiry, strikeText[0]!, 'call'),
  )!.config;
  for (const strike of strikeText.slice(first)) {
    for (const type of ['call', 'put'] as const) {
      const m = new Market({
        ...template,
        symbol: optionSymbol('BTC', 'USDT', 'linear', expiry, strike, type),
        option: { ...template.option!, type, strike },
      });
      m.attach(e.ledger, clock);
      e.markets.set(m.symbol, m);
      registerOptionMarket(e, m);
    }
  }
  linkOptions(e);
  const feed = [...e.optionFeeds.values()][0]!;
  const optionMarkets = feed.markets;
  const smileCmds = smiles.map((vs) => ({
    kind: 'strikes' as const,
    ivs: Object.fromEntries(vs.map((v, i) => [strikeText[i]!, formatDecimal(v, 18)])),
  }));
  const parsedSmiles = smileCmds.map((sm) => parseSmile(sm, years));
  let esink = 0n;
  const engineQuote = (u: number) => {
    const r = apply({ type: 'volQuote', underlying: 'BTCUSDT', expiry, smile: smileCmds[u % updates] });
    esink += BigInt(r.events.length);
  };
  // remarkOptions alone, as apply calls it after a volQuote (the smile parsed, the feed flagged as requoted).
  const engineRemark = (u: number) => {
    clock += 1000;
    e.now = clock;
    e.events = [];
    feed.smile = parsedSmiles[u % updates]!;
    feed.requoted = true;
    remarkOptions(e, false);
    esink += BigInt(e.events.length);
  };
  // A spot move: the forward changes (every call, the first too), the chain is moved to it (ln F − ln K per strike,
  // the strikes' logs cached) and re-marked.
  const spotText = [formatDecimal(forward, 18), formatDecimal(forward + WAD, 18)];
  const engineSpot = (u: number) => {
    const r = apply({ type: 'setMarkPrice', symbol: 'BTCUSDT', price: spotText[(u + 1) % 2] });
    esink += BigInt(r.events.length);
  };
  // The engine's former path: bigint black76 market by market (option-terms priceOption), on the same feed.
  const enginePerOption = (u: number) => {
    feed.smile = parsedSmiles[u % updates]!;
    const secs = Math.floor((expiry - clock) / 1000);
    for (const m of optionMarkets) esink += priceOption(m.option!, feed, feed.forward!, secs, 8)!.mark;
  };

  // First call of each (cold). The integer kernel's `mark` runs cold first; its `price` then reuses a warm kernel.
  const cold = (fn: (u: number) => void): number => {
    const s = process.hrtime.bigint();
    fn(0);
    return Number(process.hrtime.bigint() - s) / 1e6;
  };
  const fixedFirstMs = cold(fixedUpdate);
  const floatFirstMs = cold(floatUpdate);
  const intMarkFirstMs = cold(intMarkUpdate);
  const intPriceFirstMs = cold(intPriceUpdate);
  const engineQuoteFirstMs = cold(engineQuote); // builds the chain: ln(F/K) per strike
  const engineRemarkFirstMs = cold(engineRemark);
  const engineSpotFirstMs = cold(engineSpot);
  const enginePerOptionFirstMs = cold(enginePerOption);

  // Agreement check on one update: the float reference is a check, not a tolerance contest.
  const fx = chain.price(smiles[0] as bigint[]);
  const fl = floatChain(F, t, floatStrikes, floatSmiles[0] as number[]);
  const ix = intChain.price(smiles[0] as bigint[]);
  let worstRel = 0;
  let worstIntRel = 0;
  fx.forEach((r, i) => {
    const ref = (fl[i] as FloatResult).call;
    if (ref > 1e-7 * F) worstRel = Math.max(worstRel, Math.abs(Number(r.call) / 1e18 - ref) / ref);
    for (const side of ['call', 'put'] as const) {
      const b = r[side];
      const d = (ix[i] as { call: bigint; put: bigint })[side] - b;
      if (Number(b) > 1e-7 * Number(forward)) {
        worstIntRel = Math.max(worstIntRel, Math.abs(Number(d)) / Number(b));
      }
    }
  });

  // The engine's marks against the bigint kernel on one update, rounded down to priceDp (8) as the engine does.
  engineQuote(0);
  engineQuote(0);
  let engineOff = 0;
  for (const m of optionMarkets) {
    const ref = priceOption(m.option!, feed, feed.forward!, Math.floor((expiry - clock) / 1000), 8)!.mark;
    if (m.mark !== ref) engineOff++;
  }

  const sides = [
    { name: 'fixed', fn: fixedUpdate, ms: [] as number[] },
    { name: 'float', fn: floatUpdate, ms: [] as number[] },
    { name: 'intMark', fn: intMarkUpdate, ms: [] as number[] },
    { name: 'intPrice', fn: intPriceUpdate, ms: [] as number[] },
    { name: 'engineQuote', fn: engineQuote, ms: [] as number[] },
    { name: 'engineRemark', fn: engineRemark, ms: [] as number[] },
    { name: 'engineSpot', fn: engineSpot, ms: [] as number[] },
    { name: 'enginePerOption', fn: enginePerOption, ms: [] as number[] },
  ];
  for (let w = 0; w < warmup; w++) {
    for (const side of sides) for (let u = 0; u < updates; u++) side.fn(u);
  }

  const timeUpdates = (fn: (u: number) => void): number => {
    const s = process.hrtime.bigint();
    for (let u = 0; u < updates; u++) fn(u);
    return Number(process.hrtime.bigint() - s) / 1e6 / updates;
  };
  // Rep r starts with side r mod 8 and goes round, so each side runs first, second, … equally often.
  for (let r = 0; r < reps; r++) {
    for (let k = 0; k < sides.length; k++) {
      const side = sides[(r + k) % sides.length] as (typeof sides)[number];
      side.ms.push(timeUpdates(side.fn));
    }
  }
  const [fixedMs, floatMs, intMarkMs, intPriceMs, quoteMs, remarkMs, spotMs, perOptionMs] = sides.map(
    (s) => s.ms,
  ) as [number[], number[], number[], number[], number[], number[], number[], number[]];
  // The one-shot API (no chain precompute: ln(F/K) per call), for scale.
  const single = () => {
    const vs = smiles[0] as bigint[];
    for (let i = 0; i < nStrikes; i++) {
      sink += black76({ forward, strike: strikes[i] as bigint, years, vol: vs[i] as bigint }).vega;
    }
  };
  single();
  const s1 = process.hrtime.bigint();
  single();
  const singleMs = Number(process.hrtime.bigint() - s1) / 1e6;

  const fixedMed = median(fixedMs);
  const floatMed = median(floatMs);
  const intMarkMed = median(intMarkMs);
  const intPriceMed = median(intPriceMs);
  const quoteMed = median(quoteMs);
  const remarkMed = median(remarkMs);
  const spotMed = median(spotMs);
  const perOptionMed = median(perOptionMs);
  const perSec = (ms: number) => (nStrikes * 1000) / ms;
  const spread = (xs: number[]) => `${round(Math.min(...xs), 3)}–${round(Math.max(...xs), 3)}`;
  say(
    `chain: ${fmtInt(nStrikes)} strikes, 30 d, ${updates} vol updates × ${reps} rotated reps (warm-up ${warmup})`,
  );
  say(
    `module load (tables built from series, plus transpile): bigint ${round(moduleLoadMs, 1)} ms, int ${round(intLoadMs, 1)} ms`,
  );
  say(
    `first call: bigint ${round(fixedFirstMs, 2)} ms, float ${round(floatFirstMs, 3)} ms, int mark ${round(intMarkFirstMs, 2)} ms, int price ${round(intPriceFirstMs, 2)} ms`,
  );
  say('steady state per vol update (median, reps min–max):');
  say(`  float        ${round(floatMed, 4)} ms (${fmtInt(perSec(floatMed))} strikes/s; ${spread(floatMs)})`);
  say(
    `  int mark     ${round(intMarkMed, 4)} ms (${fmtInt(perSec(intMarkMed))} strikes/s; ${spread(intMarkMs)})  ${round(intMarkMed / floatMed, 2)}x float (goal ≤ 5x)`,
  );
  say(
    `  int price    ${round(intPriceMed, 3)} ms (${fmtInt(perSec(intPriceMed))} strikes/s; ${spread(intPriceMs)})  ${round(intPriceMed / floatMed, 1)}x float: mark + all 7 outputs to bigint WAD`,
  );
  say(
    `  bigint       ${round(fixedMed, 3)} ms (${fmtInt(perSec(fixedMed))} strikes/s; ${spread(fixedMs)})  ${round(fixedMed / floatMed, 1)}x float`,
  );
  say(
    `engine, ${fmtInt(2 * nStrikes)} option markets (calls and puts), no holders, a second between updates (first call: volQuote ${round(engineQuoteFirstMs, 2)} ms, remark ${round(engineRemarkFirstMs, 2)} ms, spot ${round(engineSpotFirstMs, 2)} ms, per option ${round(enginePerOptionFirstMs, 2)} ms):`,
  );
  say(
    `  volQuote     ${round(quoteMed, 3)} ms (${spread(quoteMs)})  ${round(quoteMed / floatMed, 1)}x float: parse + validate + re-mark`,
  );
  say(
    `  remark       ${round(remarkMed, 3)} ms (${spread(remarkMs)})  ${round(remarkMed / floatMed, 1)}x float: remarkOptions alone (IVs from the new smile, kernel, premiums onto the grid, events)`,
  );
  say(
    `  spot move    ${round(spotMed, 3)} ms (${spread(spotMs)})  ${round(spotMed / floatMed, 1)}x float: setMarkPrice, chain moved to the new forward`,
  );
  say(
    `  per option   ${round(perOptionMed, 3)} ms (${spread(perOptionMs)})  ${round(perOptionMed / floatMed, 1)}x float: the former path, bigint priceOption per market`,
  );
  say(`  engine marks ≠ bigint marks at priceDp 8: ${engineOff} of ${2 * nStrikes}`);
  say(`black76() one by one: ${round(singleMs, 2)} ms`);
  say(
    `agreement: bigint vs float worst relative price difference ${worstRel.toExponential(2)}; int vs bigint ${worstIntRel.toExponential(2)} (sinks ${sink % 10n} ${fsink > 0} ${isink > 0} ${esink > 0n})`,
  );
  return {
    strikes: nStrikes,
    updates,
    reps,
    moduleLoadMs: round(moduleLoadMs, 1),
    intModuleLoadMs: round(intLoadMs, 1),
    firstCallMs: {
      fixed: round(fixedFirstMs, 3),
      float: round(floatFirstMs, 4),
      intMark: round(intMarkFirstMs, 3),
      intPrice: round(intPriceFirstMs, 3),
      engineVolQuote: round(engineQuoteFirstMs, 3),
      engineRemark: round(engineRemarkFirstMs, 3),
      engineSpot: round(engineSpotFirstMs, 3),
      enginePerOption: round(enginePerOptionFirstMs, 3),
    },
    perVolUpdateMs: {
      fixed: round(fixedMed, 4),
      float: round(floatMed, 5),
      intMark: round(intMarkMed, 5),
      intPrice: round(intPriceMed, 4),
      fixedAll: fixedMs.map((x) => round(x, 4)),
      floatAll: floatMs.map((x) => round(x, 5)),
      intMarkAll: intMarkMs.map((x) => round(x, 5)),
      intPriceAll: intPriceMs.map((x) => round(x, 4)),
    },
    engine: {
      optionMarkets: 2 * nStrikes,
      volQuoteMs: round(quoteMed, 4),
      remarkMs: round(remarkMed, 4),
      spotMoveMs: round(spotMed, 4),
      perOptionBigintMs: round(perOptionMed, 4),
      volQuoteAll: quoteMs.map((x) => round(x, 4)),
      remarkAll: remarkMs.map((x) => round(x, 4)),
      spotMoveAll: spotMs.map((x) => round(x, 4)),
      perOptionBigintAll: perOptionMs.map((x) => round(x, 4)),
      ratioVolQuoteOverFloat: round(quoteMed / floatMed, 2),
      ratioRemarkOverFloat: round(remarkMed / floatMed, 2),
      ratioSpotMoveOverFloat: round(spotMed / floatMed, 2),
      ratioPerOptionOverFloat: round(perOptionMed / floatMed, 2),
      marksOffByOneVsBigint: engineOff,
    },
    strikesPerSecond: {
      fixed: Math.round(perSec(fixedMed)),
      float: Math.round(perSec(floatMed)),
      intMark: Math.round(perSec(intMarkMed)),
      intPrice: Math.round(perSec(intPriceMed)),
    },
    ratioFixedOverFloat: round(fixedMed / floatMed, 2),
    ratioIntMarkOverFloat: round(intMarkMed / floatMed, 2),
    ratioIntPriceOverFloat: round(intPriceMed / floatMed, 2),
    singleCallChainMs: round(singleMs, 3),
    worstRelPriceDiff: worstRel,
    worstIntVsBigintRelPriceDiff: worstIntRel,
  };
}
