/**
 * Topic fan-out for the WebSocket streams. A message is serialized once per topic and handed to each subscriber's
 * `deliver`, which never blocks: a subscriber that cannot keep up is disconnected by its own transport (see ws.ts),
 * so the engine never waits for a client.
 *
 * Topics: public `orderbook.<SYMBOL>`, `trades.<SYMBOL>`, `mark.<SYMBOL>`, `funding.<SYMBOL>`, `options.<UNDERLYING>`
 * (vol updates of that underlying's option expiries: marks and IVs), `candles.<SYMBOL>.<timeframe>` (mark candles),
 * `insurance.<ASSET>`, `liquidations.<SYMBOL>`, `vaults` (every vault's NAV changes) and `vaults.<VAULT>`; admin-only
 * `liquidations.all` (keyed `liquidations.*`, which no symbol can be); private, one set per account, `orders`,
 * `fills`, `positions`, `marginCalls`, `liquidations`, `silos`, `alerts`, `vaultHoldings` (a depositor's vault
 * deposits, withdrawals and fees) — keyed internally as `<topic>@<account>`.
 */
import { toJson } from './codec.ts';

export const PUBLIC_TOPICS = ['orderbook', 'trades', 'mark', 'funding', 'options'] as const;
export const PRIVATE_TOPICS = [
  'orders',
  'fills',
  'positions',
  'marginCalls',
  'liquidations',
  'silos',
  'alerts',
  'vaultHoldings',
] as const;
export type PublicTopic = (typeof PUBLIC_TOPICS)[number];
export type PrivateTopic = (typeof PRIVATE_TOPICS)[number];

export interface Subscriber {
  readonly id: number;
  /** Queues `text` for the client without waiting; returns false if the subscriber was dropped. */
  deliver(text: string): boolean;
}

export const publicKey = (topic: PublicTopic, symbol: string): string => `${topic}.${symbol}`;
export const privateKey = (topic: PrivateTopic, account: string): string => `${topic}@${account}`;
export const candleKey = (symbol: string, timeframe: string): string => `candles.${symbol}.${timeframe}`;
export const insuranceKey = (asset: string): string => `insurance.${asset}`;
export const liquidationsKey = (symbol: string): string => `liquidations.${symbol}`;
/** Every vault's NAV, NAV per share and shares as they change. */
export const VAULTS_KEY = 'vaults';
export const vaultKey = (vault: string): string => `vaults.${vault}`;
/** Every market's liquidations with account ids (admin keys only); `*` is in no market symbol. */
export const ALL_LIQUIDATIONS_KEY = 'liquidations.*';
export const ALL_LIQUIDATIONS_TOPIC = 'liquidations.all';

export class Hub {
  private readonly topics = new Map<string, Set<Subscriber>>();
  /** Messages handed to subscribers (`ringfence_ws_messages_delivered_total`). */
  delivered = 0;

  subscribe(key: string, s: Subscriber): void {
    let set = this.topics.get(key);
    if (!set) {
      set = new Set();
      this.topics.set(key, set);
    }
    set.add(s);
  }

  unsubscribe(key: string, s: Subscriber): void {
    const set = this.topics.get(key);
    if (!set) return;
    set.delete(s);
    if (set.size === 0) this.topics.delete(key);
  }

  has(key: string): boolean {
    return this.topics.has(key);
  }

  /** Keys with at least one subscriber that start with `prefix` (e.g. every `orderbook.` topic). */
  keysWith(prefix: string): string[] {
    return [...this.topics.keys()].filter((k) => k.startsWith(prefix));
  }

  /** Serializes `message()` only if someone listens, once for every subscriber. */
  publish(key: string, message: () => unknown): void {
    const set = this.topics.get(key);
    if (!set) return;
    const msg = message();
    let text: string;
    try {
      text = JSON.stringify(msg);
    } catch {
      // Only a stray bigint can make this throw (views format every amount); render it rather than fail.
      text = toJson(msg);
    }
    // A Set iterates live: a subscriber dropped (deleted) during delivery is simply not visited again.
    for (const s of set) if (s.deliver(text)) this.delivered += 1;
  }
}
