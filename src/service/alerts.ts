/**
 * Margin-ratio alerts: the private `alerts` stream tells an account when one of its boxes — an isolated position, the
 * cross bucket of an asset, a named silo — crosses one of the account's levels of margin ratio (maintenance / equity,
 * as GET /api/v1/silos computes it: 1 means liquidatable), up (reached it) or down (recovered below it). They are
 * notification preferences, not engine state: each account's levels live in the service's memory (the config's
 * `alerts.levels` until it sets its own) and reset to the default on restart. The engine's own `marginCall` event
 * (auto-add found nothing to add) is unrelated and stays on the `marginCalls` topic.
 *
 * Hysteresis: a box that reached level L counts as recovered below it only once its ratio is under
 * L × (1 − `alerts.hysteresis`) (floor), so a ratio sitting on a level does not flap up, down, up with each tick of the
 * mark. Each crossing is one item: a jump across two levels gives two (ascending when up, descending when down).
 *
 * Cost: only accounts with an `alerts` subscriber are followed (`watch` on the first subscriber, `unwatch` when the
 * last one leaves); for each command, only their boxes holding a market whose mark (or funding index) moved, and
 * every box of a followed account whose own positions or collateral moved (its events name it), are computed — with
 * the engine's read model (boxRisksOf), read-only. An account nobody follows costs one map lookup per event, and
 * nothing at all when nobody follows any.
 *
 * Timing: `capture` runs right after the engine applied a command (synchronously, in Service.submit), so the ratios
 * are exactly those after that command; the items are sent under its seq once it is committed. (A publish-time read
 * could see later commands not yet durable.) A command that fails to commit never sends its items; the recovery
 * that follows re-reads every followed account and sends its subscribers a fresh snapshot (`resync: true`).
 */
import { RATE_ONE } from '../core/rates.ts';
import type { Engine } from '../engine/engine.ts';
import { type BoxRisk, boxRisksOf, positionLiquidationPrice } from '../engine/readmodel.ts';
import type { EngineState } from '../engine/state.ts';
import { fmtPrice, fmtRate } from './codec.ts';
import { fmtLevel, parseAlertLevels, parseHysteresis, type ServiceConfig } from './config.ts';

/** What every alert and snapshot entry says about a box. */
export interface BoxFields {
  /** The box's leg with the largest maintenance (an isolated position's own market). */
  symbol: string;
  /** As GET positions shows the leg: a named silo's legs are pooled (`cross`) within the silo. */
  marginMode: 'isolated' | 'cross';
  /** The named silo; null for an isolated position and the cross bucket. */
  silo: string | null;
  /** The box's id as GET /api/v1/silos names it: `isolated:<SYMBOL>`, `cross:<ASSET>` or the silo's id. */
  box: string;
  /** Maintenance / equity; null when equity is not positive (past every level). */
  marginRatio: string | null;
  /** `symbol`'s mark. */
  markPrice: string | null;
  /** `symbol`'s price at which the box is liquidated, the others held (GET silos' liquidationPrices). */
  liquidationPrice: string | null;
}

export interface MarginAlert extends BoxFields {
  type: 'marginAlert';
  /** The level crossed. */
  level: string;
  direction: 'up' | 'down';
}

/** A box as the snapshot lists it: `level` is the highest level it stands at (null: below every level). */
export interface AlertBox extends BoxFields {
  level: string | null;
}

export interface AlertSnapshot {
  type: 'snapshot';
  /** The account's levels in force. */
  levels: string[];
  alerts: AlertBox[];
  /** After a recovery (or new levels): replaces what the client holds. */
  resync?: true;
}

/** A followed box: how many of the account's levels it stands at, and its last ratio (null: past them all). */
interface BoxState {
  reached: number;
  ratio: bigint | null;
}

interface Watched {
  boxes: Map<string, BoxState>;
  /** Markets the account holds in any box (the index a mark change is looked up in). */
  symbols: Set<string>;
}

/** How many levels a ratio stands at, with no history (null: every one). */
function reachedAt(levels: readonly bigint[], ratio: bigint | null): number {
  if (ratio === null) return levels.length;
  let n = 0;
  while (n < levels.length && ratio >= levels[n]!) n++;
  return n;
}

export class Alerts {
  readonly defaults: readonly bigint[];
  readonly hysteresis: bigint;
  /** Accounts' own levels (absent: the defaults). */
  private readonly own = new Map<string, readonly bigint[]>();
  private readonly watched = new Map<string, Watched>();
  /** Market → followed accounts holding it. */
  private readonly bySymbol = new Map<string, Set<string>>();
  /** Boxes computed by `capture` (tests and metrics: an account nobody follows costs nothing). */
  evaluated = 0;

  constructor(cfg: ServiceConfig['alerts']) {
    this.defaults = parseAlertLevels(cfg.levels, 'alerts.levels');
    this.hysteresis = parseHysteresis(cfg.hysteresis, 'alerts.hysteresis');
  }

  levelsOf(account: string): readonly bigint[] {
    return this.own.get(account) ?? this.defaults;
  }

  /** Sets an account's levels; its followed boxes are re-based on them without an alert (the caller sends a snapshot). */
  setLevels(account: string, levels: readonly bigint[]): void {
    const same = levels.length === this.defaults.length && levels.every((v, i) => v === this.defaults[i]);
    if (same) this.own.delete(account);
    else this.own.set(account, levels);
    const w = this.watched.get(account);
    if (!w) return;
    for (const st of w.boxes.values()) st.reached = reachedAt(levels, st.ratio);
  }

  isWatched(account: string): boolean {
    return this.watched.has(account);
  }

  get watching(): number {
    return this.watched.size;
  }

  /** Starts following an account (its first `alerts` subscriber): its boxes are read by the snapshot that follows. */
  watch(account: string): void {
    if (!this.watched.has(account)) this.watched.set(account, { boxes: new Map(), symbols: new Set() });
  }

  /** Stops following an account (its last subscriber left). */
  unwatch(account: string): void {
    const w = this.watched.get(account);
    if (!w) return;
    for (const s of w.symbols) this.unindex(s, account);
    this.watched.delete(account);
  }

  /** Every followed account, e.g. to re-read them after a recovery. */
  accounts(): string[] {
    return [...this.watched.keys()];
  }

  /**
   * Every open box of a followed account with the level it stands at. A box seen for the first time (or every box,
   * with `rebase` after a recovery) takes the level of its ratio, silently.
   */
  snapshot(e: EngineState, account: string, rebase = false): AlertSnapshot {
    this.watch(account);
    const w = this.watched.get(account)!;
    const levels = this.levelsOf(account);
    const boxes = boxRisksOf(e, account);
    const alerts: AlertBox[] = [];
    for (const b of boxes) {
      const known = rebase ? undefined : w.boxes.get(b.id);
      const reached = known?.reached ?? reachedAt(levels, b.marginRatio);
      w.boxes.set(b.id, { reached, ratio: b.marginRatio });
      alerts.push({ ...boxFields(e, b), level: reached === 0 ? null : fmtLevel(levels[reached - 1]!) });
    }
    this.settle(account, w, boxes);
    return { type: 'snapshot', levels: levels.map(fmtLevel), alerts };
  }

  /**
   * The alerts of the command just applied (the engine's `events` are its events), per account; null when there is
   * none. See the module comment for what is computed.
   */
  capture(e: Engine): Map<string, MarginAlert[]> | null {
    if (this.watched.size === 0) return null;
    // Accounts whose every box is read (their own positions or collateral moved), and markets whose mark moved.
    const full = new Set<string>();
    const marks = new Set<string>();
    const touch = (account: string) => {
      if (this.watched.has(account)) full.add(account);
    };
    for (const ev of e.events) {
      switch (ev.type) {
        case 'markPrice':
        case 'fundingRate':
        case 'marketSettled':
          if (this.bySymbol.has(ev.symbol)) marks.add(ev.symbol);
          break;
        case 'position':
        case 'marginModeSet':
        case 'fundingPaid':
        case 'liquidationStarted':
        case 'liquidation':
        case 'adl':
        case 'autoAddMargin':
        case 'insuranceDraw':
        case 'siloClosed':
          touch(ev.account);
          break;
        case 'transfer':
          // Ledger labels start with the owner (`alice:main:USDT`, `alice:isolated:BTCUSDT`, `alice:silo:pair`).
          touch(ownerOf(ev.from));
          touch(ownerOf(ev.to));
          break;
        default:
          break;
      }
    }
    if (full.size === 0 && marks.size === 0) return null;
    const out = new Map<string, MarginAlert[]>();
    for (const account of full) this.evaluate(e, account, undefined, out);
    const partial = new Map<string, Set<string>>();
    for (const symbol of marks)
      for (const account of this.bySymbol.get(symbol)!)
        if (!full.has(account)) entry(partial, account, () => new Set<string>()).add(symbol);
    for (const [account, symbols] of partial) this.evaluate(e, account, symbols, out);
    return out.size === 0 ? null : out;
  }

  /** The account's boxes (all, or those holding one of `symbols`): their crossings into `out`. */
  private evaluate(
    e: EngineState,
    account: string,
    symbols: ReadonlySet<string> | undefined,
    out: Map<string, MarginAlert[]>,
  ): void {
    const w = this.watched.get(account)!;
    const levels = this.levelsOf(account);
    const boxes = boxRisksOf(e, account, symbols);
    this.evaluated += boxes.length;
    for (const b of boxes) {
      const st = w.boxes.get(b.id);
      const from = st?.reached ?? 0;
      const to = this.step(levels, from, b.marginRatio);
      w.boxes.set(b.id, { reached: to, ratio: b.marginRatio });
      if (to === from) continue;
      const fields = boxFields(e, b);
      const list = entry(out, account, () => []);
      if (to > from)
        for (let i = from; i < to; i++)
          list.push({ type: 'marginAlert', ...fields, level: fmtLevel(levels[i]!), direction: 'up' });
      else
        for (let i = from - 1; i >= to; i--)
          list.push({ type: 'marginAlert', ...fields, level: fmtLevel(levels[i]!), direction: 'down' });
    }
    if (symbols === undefined) this.settle(account, w, boxes);
  }

  /** The level a box stands at after `ratio`, from `from`: up to every level reached, down past the hysteresis. */
  private step(levels: readonly bigint[], from: number, ratio: bigint | null): number {
    let n = from;
    if (ratio === null) return levels.length;
    while (n < levels.length && ratio >= levels[n]!) n++;
    if (n > from) return n;
    while (n > 0 && ratio < (levels[n - 1]! * (RATE_ONE - this.hysteresis)) / RATE_ONE) n--;
    return n;
  }

  /** After reading every box of an account: closed boxes are forgotten and the market index follows its legs. */
  private settle(account: string, w: Watched, boxes: readonly BoxRisk[]): void {
    const ids = new Set(boxes.map((b) => b.id));
    for (const id of w.boxes.keys()) if (!ids.has(id)) w.boxes.delete(id);
    const symbols = new Set<string>();
    for (const b of boxes) for (const p of b.legs) symbols.add(p.market.symbol);
    for (const s of w.symbols) if (!symbols.has(s)) this.unindex(s, account);
    for (const s of symbols) entry(this.bySymbol, s, () => new Set<string>()).add(account);
    w.symbols = symbols;
  }

  private unindex(symbol: string, account: string): void {
    const set = this.bySymbol.get(symbol);
    if (!set) return;
    set.delete(account);
    if (set.size === 0) this.bySymbol.delete(symbol);
  }
}

/** The value at `k`, made and stored first if there is none. */
function entry<K, V>(m: Map<K, V>, k: K, make: () => V): V {
  let v = m.get(k);
  if (v === undefined) {
    v = make();
    m.set(k, v);
  }
  return v;
}

function ownerOf(label: string): string {
  const i = label.indexOf(':');
  return i < 0 ? label : label.slice(0, i);
}

function boxFields(e: EngineState, b: BoxRisk): BoxFields {
  const p = b.lead;
  const m = p.market;
  const lp = positionLiquidationPrice(e, p);
  return {
    symbol: m.symbol,
    marginMode: p.mode,
    silo: b.silo,
    box: b.id,
    marginRatio: b.marginRatio === null ? null : fmtRate(b.marginRatio),
    markPrice: m.mark === null ? null : fmtPrice(m, m.mark),
    liquidationPrice: lp === null ? null : fmtPrice(m, lp),
  };
}
