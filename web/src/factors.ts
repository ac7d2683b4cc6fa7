/**
 * Each market's volatility-adjusted margin (docs/dynamic-margin.md), live for the whole app: it starts from the
 * markets read at login and follows the `marginFactor` events on the markets' public `mark` topics — a raise
 * announced, applied or withdrawn, a cut applied — and re-reads the markets after a reconnect, since events sent
 * while the link was down are gone. One listener per market; views read it through `useMarginFactor`.
 */
import type { RingfenceClient } from './api.ts';
import type { Live } from './live.ts';
import type { Market, StreamMessage } from './types.ts';

export type DynamicMargin = NonNullable<Market['dynamicMargin']>;

/** A `marginFactor` item of a `mark.<SYMBOL>` message (rates as decimal strings, `effectiveAt` in ms). */
export interface MarginFactorEvent {
  type: 'marginFactor';
  symbol: string;
  status: 'announced' | 'applied' | 'withdrawn';
  factor: string;
  previous: string;
  effectiveAt: number;
  vol: string;
}

/**
 * The market's dynamic margin after `ev`: an announced raise is pending (the factor in force is `previous`), an
 * applied change is in force with nothing pending, a withdrawn raise leaves `previous` in force.
 */
export function applyMarginFactor(d: DynamicMargin, ev: MarginFactorEvent): DynamicMargin {
  switch (ev.status) {
    case 'announced':
      return {
        ...d,
        factor: ev.previous,
        pendingFactor: ev.factor,
        effectiveAt: ev.effectiveAt,
        vol: ev.vol,
      };
    case 'applied':
      return { ...d, factor: ev.factor, pendingFactor: null, effectiveAt: null, vol: ev.vol };
    case 'withdrawn':
      return { ...d, factor: ev.previous, pendingFactor: null, effectiveAt: null, vol: ev.vol };
  }
}

export class MarginFactors {
  private readonly bySymbol = new Map<string, DynamicMargin>();
  private readonly listeners = new Set<() => void>();
  private readonly offs: (() => void)[] = [];

  constructor(
    private readonly api: RingfenceClient,
    live: Live,
    markets: Market[],
  ) {
    for (const m of markets) {
      if (!m.dynamicMargin) continue;
      this.bySymbol.set(m.symbol, m.dynamicMargin);
      this.offs.push(live.subscribe(`mark.${m.symbol}`, (msg) => this.receive(msg)));
    }
    if (this.bySymbol.size > 0) this.offs.push(live.onReconnect(() => void this.reload()));
  }

  /** The market's dynamic margin as it stands (null: the market has none). */
  get(symbol: string): DynamicMargin | null {
    return this.bySymbol.get(symbol) ?? null;
  }

  onChange(f: () => void): () => void {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  close(): void {
    for (const off of this.offs) off();
    this.offs.length = 0;
    this.listeners.clear();
  }

  private receive(msg: StreamMessage): void {
    let changed = false;
    for (const d of msg.data as { type?: string; symbol?: string }[]) {
      if (d.type !== 'marginFactor' || typeof d.symbol !== 'string') continue;
      const now = this.bySymbol.get(d.symbol);
      if (!now) continue;
      this.bySymbol.set(d.symbol, applyMarginFactor(now, d as MarginFactorEvent));
      changed = true;
    }
    if (changed) this.notify();
  }

  private async reload(): Promise<void> {
    try {
      for (const m of await this.api.markets())
        if (m.dynamicMargin && this.bySymbol.has(m.symbol)) this.bySymbol.set(m.symbol, m.dynamicMargin);
      this.notify();
    } catch {
      // The next reconnect tries again; until then the last figures stand.
    }
  }

  private notify(): void {
    for (const f of this.listeners) f();
  }
}
