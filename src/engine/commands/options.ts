/**
 * Option commands: createOptionChain (admin: a chain of option markets from a template) and volQuote (the vol feed,
 * options.ts). A chain is validated in full — every market built, every symbol free, the market limit, the settle
 * asset's decimals — before the first market is added, so a refused chain adds none.
 */
import { formatDecimal, parseDecimal } from '../../core/fixed.ts';
import { utcParts } from '../../core/utc.ts';
import { Market } from '../market.ts';
import { linkOptions, registerOptionMarket, validateOptionMarket } from '../options.ts';
import type { EngineState } from '../state.ts';
import { type Cmd, type MarketConfig, Rejection } from '../types.ts';
import { marketOf, parsed } from '../validate.ts';
import { MAX_MARKETS } from './markets.ts';

export { volQuote } from '../options.ts';

/** Expiries and strikes of one chain command (the market limit bounds the product anyway). */
const MAX_EXPIRIES = 16;
const MAX_STRIKES = 128;

/** `BTC-20261225-100000-C` (inverse, Deribit's plain names) or `BTC_USDT-20261225-100000-C` (linear). */
export function optionSymbol(
  base: string,
  quote: string,
  settle: 'linear' | 'inverse',
  expiry: number,
  strike: string,
  type: 'call' | 'put',
): string {
  const d = utcParts(expiry);
  const ymd = `${d.year}${String(d.month).padStart(2, '0')}${String(d.day).padStart(2, '0')}`;
  return `${optionChainName(base, quote, settle)}-${ymd}-${strike}-${type === 'call' ? 'C' : 'P'}`;
}

/** What every symbol of a chain starts with, before `-<expiry>`: `BTC` (inverse) or `BTC_USDT` (linear). */
export function optionChainName(base: string, quote: string, settle: 'linear' | 'inverse'): string {
  return settle === 'inverse' ? base : `${base}_${quote}`;
}

export function createOptionChain(e: EngineState, cmd: Cmd<'createOptionChain'>): undefined {
  const u = marketOf(e, cmd.underlying);
  if (u.option !== null) throw new Rejection('INVALID_COMMAND', `${u.symbol} is an option`);
  if (cmd.settle !== 'linear' && cmd.settle !== 'inverse')
    throw new Rejection('INVALID_COMMAND', 'settle must be linear or inverse');
  const list = <T>(v: unknown, max: number, what: string): T[] => {
    if (!Array.isArray(v) || v.length === 0 || v.length > max)
      throw new Rejection('INVALID_COMMAND', `${what}: 1..${max} entries`);
    return v as T[];
  };
  const expiries = list<number>(cmd.expiries, MAX_EXPIRIES, 'expiries');
  const strikes = list<string>(cmd.strikes, MAX_STRIKES, 'strikes').map((s) =>
    formatDecimal(
      parsed(() => parseDecimal(s, 'strike', { dp: 18, positive: true, maxAbs: 10n ** 36n })),
      18,
    ),
  );
  const types =
    cmd.types === undefined ? (['call', 'put'] as const) : list<'call' | 'put'>(cmd.types, 2, 'types');
  const base = u.config.base;
  // Linear options settle in the underlying's quote (USDT), inverse ones in its coin.
  const quote = cmd.settle === 'linear' ? u.config.quote : base;
  const settleDp = e.assets.get(quote) ?? (cmd.settle === 'linear' ? u.inst.settleDp : 8);
  const configs: MarketConfig[] = [];
  for (const expiry of expiries)
    for (const strike of strikes)
      for (const type of types)
        configs.push({
          symbol: optionSymbol(base, quote, cmd.settle, expiry, strike, type),
          kind: 'linear',
          base,
          quote,
          tickSize: cmd.tickSize,
          lotSize: cmd.lotSize,
          settleDp,
          // Options carry no leverage: a long pays its premium, a short its venue rule's margin.
          maxLeverage: '1',
          defaultLeverage: '1',
          takerFee: cmd.takerFee ?? '0.0003',
          makerFee: cmd.makerFee ?? '0.0003',
          limitBand: cmd.limitBand ?? '0.5',
          marketBand: cmd.marketBand ?? '0.2',
          ...(cmd.maxOrderSize !== undefined ? { maxOrderSize: cmd.maxOrderSize } : {}),
          ...(cmd.settlementWindowMs !== undefined ? { settlementWindowMs: cmd.settlementWindowMs } : {}),
          // Unused: an option leg's maintenance is its venue rule's (risk.ts legMaintenance).
          risk: { kind: 'brackets', tiers: [{ cap: null, mmr: '0.5', maxLeverage: '1' }] },
          option: {
            underlying: u.symbol,
            type,
            strike,
            expiry,
            settle: cmd.settle,
            ...(cmd.vol !== undefined ? { vol: cmd.vol } : {}),
          },
          optionMargin: cmd.optionMargin ?? 'ringfence',
          ...(cmd.liquidation !== undefined ? { liquidation: cmd.liquidation } : {}),
        });
  if (e.markets.size + configs.length > MAX_MARKETS)
    throw new Rejection('LIMIT_EXCEEDED', `at most ${MAX_MARKETS} markets`);
  const markets = configs.map((cfg) => {
    if (e.markets.has(cfg.symbol)) throw new Rejection('MARKET_EXISTS', `market ${cfg.symbol} exists`);
    const m = parsed(() => new Market(cfg));
    validateOptionMarket(e, m);
    return m;
  });
  const dp = e.assets.get(quote);
  if (dp !== undefined && dp !== settleDp)
    throw new Rejection('INVALID_COMMAND', `asset ${quote} already uses ${dp} decimals`);
  // ---- validated ----
  e.assets.set(quote, settleDp);
  for (const m of markets) {
    m.attach(e.ledger, cmd.time);
    e.markets.set(m.symbol, m);
    registerOptionMarket(e, m);
    e.events.push({ type: 'marketCreated', symbol: m.symbol });
  }
  linkOptions(e);
  return undefined;
}
