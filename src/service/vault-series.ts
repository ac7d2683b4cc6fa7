/**
 * Each vault's NAV, NAV per share and shares over time (docs/vaults.md "Service"): the `GET vaults/:vault/history`
 * points and the public `vaults` / `vaults.<VAULT>` streams. Like the insurance fund's history (series.ts) a bounded
 * in-memory ring per vault that restarts empty; the journal has everything.
 *
 * A vault's NAV moves with every mark of a market it holds, so it is not followed from events: it is read from the
 * engine right after the command applied (`capture`, the moment the engine is exactly the state after it — later
 * commands may be applied before this one is committed and published), and recorded and published once the command is
 * committed (`commit`). Which vaults are read:
 *
 * - a vault one of the command's events is about (a vault event, a trade of its account, any event naming its
 *   account: positions, funding, liquidations, orders): a point whenever its NAV or shares differ from the last one
 *   seen;
 * - on a command that moved a mark, every vault holding a position: a stream item at most once a second and a
 *   history point at most once a minute per vault (a busy mark would otherwise fill the ring in minutes).
 *
 * Without vaults the capture costs one Map size check per command.
 */
import { formatDecimal } from '../core/fixed.ts';
import type { EngineState } from '../engine/state.ts';
import { MAX_VAULTS, navPerShare, SHARE_DP, VAULT_PREFIX, type Vault, vaultNav } from '../engine/vaults.ts';
import { fmtNavPerShare } from './codec.ts';
import { KeyedRings } from './history.ts';

/** A stream item at most this often per vault from marks alone. */
export const MARK_STREAM_MS = 1_000;
/** A history point at most this often per vault from marks alone. */
export const MARK_HISTORY_MS = 60_000;

export interface VaultPoint {
  time: number;
  seq: number;
  nav: bigint;
  /** NPS_ONE scale (vaults.ts). */
  nps: bigint;
  totalShares: bigint;
}

/** What a command changed in one vault, read right after it applied. */
export interface VaultCapture {
  vault: string;
  asset: string;
  nav: bigint;
  nps: bigint;
  totalShares: bigint;
  /** Recorded in the history (else only streamed). */
  history: boolean;
}

export interface VaultPointJson {
  time: number;
  seq: number;
  nav: string;
  navPerShare: string;
  totalShares: string;
}

interface Seen {
  nav: bigint;
  totalShares: bigint;
  streamedAt: number;
  recordedAt: number;
}

const NONE: VaultCapture[] = [];

export class VaultHistory {
  readonly points: KeyedRings<VaultPoint>;
  /** The last NAV and shares captured per vault (in apply order), and when it last streamed and recorded. */
  private readonly seen = new Map<string, Seen>();

  constructor(capacity: number) {
    this.points = new KeyedRings(capacity, MAX_VAULTS);
  }

  /** Forgets what was seen (after a recovery the engine is rebuilt: the next change of each vault is a point). */
  reset(): void {
    this.seen.clear();
  }

  /** Right after a command applied: the vaults it changed (see the file comment), read from the engine now. */
  capture(e: EngineState, time: number): VaultCapture[] {
    if (e.vaults.size === 0) return NONE;
    let direct: Set<string> | null = null;
    let marked = false;
    const evs = e.events;
    const add = (account: string) => {
      if (!account.startsWith(VAULT_PREFIX)) return;
      direct ??= new Set();
      direct.add(account.slice(VAULT_PREFIX.length));
    };
    for (let i = 0; i < evs.length; i++) {
      const ev = evs[i]!;
      switch (ev.type) {
        case 'vaultCreated':
        case 'vaultDeposit':
        case 'vaultWithdrawQueued':
        case 'vaultWithdraw':
        case 'vaultFee':
          direct ??= new Set();
          direct.add(ev.vault);
          break;
        case 'trade':
          add(ev.taker);
          add(ev.maker);
          break;
        case 'markPrice':
          marked = true;
          break;
        default:
          if ('account' in ev && typeof ev.account === 'string') add(ev.account);
      }
    }
    if (direct === null && !marked) return NONE;
    let out: VaultCapture[] | null = null;
    for (const v of e.vaults.values()) {
      const isDirect = (direct as Set<string> | null)?.has(v.id) ?? false;
      const s = this.seen.get(v.id);
      let history = true;
      if (!isDirect) {
        if (!marked || !holdsPositions(v)) continue;
        const streamDue = s === undefined || time - s.streamedAt >= MARK_STREAM_MS;
        history = s === undefined || time - s.recordedAt >= MARK_HISTORY_MS;
        if (!streamDue && !history) continue;
      }
      const nav = vaultNav(e, v);
      if (s !== undefined && s.nav === nav && s.totalShares === v.totalShares) continue;
      const next: Seen = {
        nav,
        totalShares: v.totalShares,
        streamedAt: time,
        recordedAt: history ? time : (s?.recordedAt ?? Number.NEGATIVE_INFINITY),
      };
      this.seen.set(v.id, next);
      out ??= [];
      out.push({
        vault: v.id,
        asset: v.asset,
        nav,
        nps: navPerShare(e, v, nav, v.totalShares),
        totalShares: v.totalShares,
        history,
      });
    }
    return out ?? NONE;
  }

  /** The command is committed: its captured points go into the history. */
  commit(seq: number, time: number, captured: readonly VaultCapture[]): void {
    for (const c of captured)
      if (c.history)
        this.points.push(c.vault, { time, seq, nav: c.nav, nps: c.nps, totalShares: c.totalShares });
  }

  /** Oldest first, the newest `limit`. */
  view(e: EngineState, vault: string, asset: string, limit: number): VaultPointJson[] {
    return this.points
      .latest(vault, limit)
      .reverse()
      .map((p) => vaultPointJson(e, asset, p));
  }
}

function holdsPositions(v: Vault): boolean {
  for (const p of v.account.positions.values()) if (p.sign !== 0) return true;
  return false;
}

export function vaultPointJson(
  e: EngineState,
  asset: string,
  p: { time: number; seq: number; nav: bigint; nps: bigint; totalShares: bigint },
): VaultPointJson {
  return {
    time: p.time,
    seq: p.seq,
    nav: formatDecimal(p.nav, e.assets.get(asset) ?? 0),
    navPerShare: fmtNavPerShare(e, asset, p.nps),
    totalShares: formatDecimal(p.totalShares, SHARE_DP),
  };
}
