/**
 * Combo orders through the journal: a market maker quotes a linear BTC call chain; Alice buys the 100k/110k call spread
 * in a `maxLoss` silo with one placeCombo, then a second, smaller combo partly against a resting quote; the spot moves.
 * Replaying the journal reaches the live state hash (the combo's ids come from the order-id sequence, so the replay
 * assigns the same); a snapshot taken right after a combo restores to the same hash, and the recovered engine goes on
 * exactly as the live one.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { type Engine, restoreEngine } from '../../src/engine/engine.ts';
import { stateHash } from '../../src/engine/hash.ts';
import { silosOf } from '../../src/engine/readmodel.ts';
import type { Command, EngineEvent } from '../../src/engine/types.ts';
import { Journal, recover } from '../../src/journal/journal.ts';
import { SqliteJournalStore } from '../../src/journal/sqlite.ts';
import { BTCUSDT } from '../engine/harness.ts';
import { tempDir } from './util.ts';

const T = { timeout: 60_000 };
type Cmd = Command extends infer C ? (C extends { time: number } ? Omit<C, 'time'> : never) : never;

const EXPIRY = Date.UTC(2027, 2, 26, 8);
const C100 = 'BTC_USDT-20270326-100000-C';
const C110 = 'BTC_USDT-20270326-110000-C';

let clock = 1_800_000_000_000;
/** The command stamped one second after the previous one. */
function at(c: Cmd): Command {
  clock += 1_000;
  return { ...c, time: clock } as Command;
}

const quote = (symbol: string, side: 'buy' | 'sell', price: string, size: string): Cmd => ({
  type: 'placeOrder',
  account: 'mm',
  symbol,
  side,
  orderType: 'limit',
  price,
  size,
});

const spread = (size: string, buyAt: string, sellAt: string, clientComboId?: string): Cmd => ({
  type: 'placeCombo',
  account: 'alice',
  silo: 'spread',
  legs: [
    { symbol: C100, side: 'buy', size, price: buyAt },
    { symbol: C110, side: 'sell', size, price: sellAt },
  ],
  ...(clientComboId !== undefined ? { clientComboId } : {}),
});

/** The venue, the quotes and Alice's first combo (the snapshot point is right after it). */
function opening(): Cmd[] {
  return [
    { type: 'createMarket', market: BTCUSDT },
    { type: 'setMarkPrice', symbol: 'BTCUSDT', price: '90000' },
    {
      type: 'createOptionChain',
      underlying: 'BTCUSDT',
      settle: 'linear',
      expiries: [EXPIRY],
      strikes: ['100000', '110000'],
      types: ['call'],
      tickSize: '0.1',
      lotSize: '0.01',
      takerFee: '0.0003',
      makerFee: '0.0003',
    },
    {
      type: 'volQuote',
      underlying: 'BTCUSDT',
      expiry: EXPIRY,
      smile: { kind: 'strikes', ivs: { '100000': '0.55', '110000': '0.55' } },
    },
    { type: 'deposit', account: 'mm', asset: 'USDT', amount: '1000000' },
    { type: 'deposit', account: 'alice', asset: 'USDT', amount: '100000' },
    { type: 'fundInsurance', asset: 'USDT', amount: '100000' },
    quote(C100, 'sell', '5500', '0.3'),
    quote(C100, 'sell', '5600', '1'),
    quote(C110, 'buy', '3000', '2'),
    { type: 'createSilo', account: 'alice', silo: 'spread', asset: 'USDT', riskModel: 'maxLoss' },
    { type: 'transferCollateral', account: 'alice', from: 'free', to: 'spread', amount: '5000' },
    spread('1', '5700', '2900', 'first'),
  ];
}

/** After the snapshot point: a vol requote and spot moves around a second combo. */
function closing(): Cmd[] {
  return [
    {
      type: 'volQuote',
      underlying: 'BTCUSDT',
      expiry: EXPIRY,
      smile: { kind: 'strikes', ivs: { '100000': '0.6', '110000': '0.58' } },
    },
    { type: 'setMarkPrice', symbol: 'BTCUSDT', price: '91000' },
    spread('0.2', '5700', '2900'),
    { type: 'setMarkPrice', symbol: 'BTCUSDT', price: '88000' },
  ];
}

async function submitAll(journal: Journal, cmds: Cmd[]): Promise<EngineEvent[]> {
  const events: EngineEvent[] = [];
  for (const c of cmds) {
    const cmd = at(c);
    const r = await journal.submit(cmd);
    assert.ok(r.ok, `${cmd.type}: ${r.ok ? '' : `${r.code} ${r.message}`}`);
    events.push(...r.events);
  }
  return events;
}

async function replayFresh(path: string): Promise<Engine> {
  const store = new SqliteJournalStore(path);
  try {
    return (await recover(store, { snapshots: false, repair: false })).engine;
  } finally {
    store.close();
  }
}

describe('combo orders in the journal', T, () => {
  test(
    'two placeCombo commands between quotes, vol and spot moves replay to the live state hash, with the same combo and order ids',
    T,
    async () => {
      const { dir, cleanup } = tempDir();
      try {
        const path = join(dir, 'combo.db');
        const { journal } = await Journal.open(new SqliteJournalStore(path), {
          hashEvery: 3,
          snapshotEvery: 0,
        });
        const events = await submitAll(journal, [...opening(), ...closing()]);
        const e = journal.engine;
        const live = stateHash(e);
        await journal.close();

        const combos = events.filter((ev) => ev.type === 'comboFilled');
        assert.equal(combos.length, 2, 'both combos filled');
        const legs = e.accounts.get('alice')!.silos.get('spread')!.positions;
        assert.deepEqual(
          [...legs.values()].map((p) => [p.market.symbol, p.sign, p.lots]),
          [
            [C100, 1, 120],
            [C110, -1, 120],
          ],
        );

        const replayed = await replayFresh(path);
        assert.equal(replayed.seq, e.seq);
        assert.equal(stateHash(replayed), live, 'replay reaches the live state');
        assert.equal(replayed.nextOrderId, e.nextOrderId, 'the same ids were taken');
        assert.deepEqual(silosOf(replayed, 'alice'), silosOf(e, 'alice'));
      } finally {
        cleanup();
      }
    },
  );

  test(
    'a snapshot right after a combo: recovery starts from it, reaches the live hash, and goes on as the live engine does',
    T,
    async () => {
      const { dir, cleanup } = tempDir();
      try {
        const path = join(dir, 'snap.db');
        const { journal } = await Journal.open(new SqliteJournalStore(path), { snapshotEvery: 0 });
        const opened = await submitAll(journal, opening());
        assert.equal(opened.at(-1)?.type, 'comboFilled', 'the last command before the snapshot is the combo');
        const snap = await journal.snapshot();
        const atSnapshot = stateHash(journal.engine);
        const tail = closing();
        await submitAll(journal, tail.slice(0, 1));
        const live = journal.engine;
        const liveHash = stateHash(live);
        await journal.close();

        const store = new SqliteJournalStore(path);
        const r = await recover(store);
        store.close();
        assert.equal(r.snapshot?.seq, snap.seq, 'recovered from the snapshot');
        assert.equal(r.records, 1, 'then replayed the tail');
        assert.equal(r.stateHash, liveHash);
        assert.notEqual(atSnapshot, liveHash, 'the tail changed the state');

        const fromSnapshot = await recoverAt(path, snap.seq);
        assert.equal(fromSnapshot.recorded, atSnapshot);
        assert.equal(
          stateHash(fromSnapshot.engine),
          atSnapshot,
          'the snapshot alone restores the state after the combo',
        );

        // The rest on both, another combo included: the recovered engine behaves exactly as the live one.
        for (const cmd of tail.slice(1).map(at)) {
          const a = live.apply(cmd);
          const b = r.engine.apply(cmd);
          assert.deepEqual(b, a, `${cmd.type} behaves the same`);
          assert.ok(a.ok, `${cmd.type}: ${a.ok ? '' : a.message}`);
        }
        assert.equal(stateHash(r.engine), stateHash(live));
      } finally {
        cleanup();
      }
    },
  );
});

/** The engine as the snapshot at `seq` alone restores it (no tail replayed), and the hash the snapshot records. */
async function recoverAt(path: string, seq: number): Promise<{ engine: Engine; recorded: string }> {
  const store = new SqliteJournalStore(path);
  try {
    const rec = await store.readSnapshot(seq);
    assert.ok(rec, `a snapshot at ${seq}`);
    return { engine: restoreEngine(rec.data), recorded: rec.stateHash };
  } finally {
    store.close();
  }
}
