import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { type BookOrder, type BookSide, OrderBook } from '../../src/engine/book.ts';
import { Rng } from '../../src/sim/rng.ts';

let nextId = 1;
function mk(side: BookSide, priceTicks: number, lots: number, accountId = 0, id = nextId++): BookOrder {
  return { id, accountId, side, priceTicks, remainingLots: lots, prev: null, next: null, level: null };
}

const ids = (it: Iterable<BookOrder>): number[] => Array.from(it, (o) => o.id);

/** Walks a side with best() + nextAfter(). */
function chain(book: OrderBook, side: BookSide): number[] {
  const out: number[] = [];
  for (let o = book.best(side); o !== null; o = book.nextAfter(o)) out.push(o.id);
  return out;
}

describe('OrderBook scenarios', () => {
  test('empty book', () => {
    const b = new OrderBook({ maxLevelsPerSide: 10 });
    assert.equal(b.best('buy'), null);
    assert.equal(b.best('sell'), null);
    assert.equal(b.bestPrice('buy'), null);
    assert.equal(b.bestPrice('sell'), null);
    assert.deepEqual(b.depth(5), { bids: [], asks: [] });
    assert.equal(b.levelCount('buy'), 0);
    assert.equal(b.levelCount('sell'), 0);
    assert.equal(b.orderCount(), 0);
    assert.deepEqual([...b.orders()], []);
    assert.equal(b.liquidityUpTo('buy', 1_000, 10), 0);
    assert.equal(b.liquidityUpTo('sell', 1, 10), 0);
    b.checkInvariants();
  });

  test('constructor rejects a bad level cap', () => {
    assert.throws(() => new OrderBook({ maxLevelsPerSide: 0 }), RangeError);
    assert.throws(() => new OrderBook({ maxLevelsPerSide: 1.5 }), RangeError);
    assert.throws(() => new OrderBook({ maxLevelsPerSide: Number.NaN }), RangeError);
  });

  test('price priority: highest bid and lowest ask are best, whatever the insertion order', () => {
    const b = new OrderBook({ maxLevelsPerSide: 10 });
    const bids = [mk('buy', 100, 1), mk('buy', 103, 2), mk('buy', 99, 3), mk('buy', 101, 4)];
    const asks = [mk('sell', 110, 1), mk('sell', 107, 2), mk('sell', 112, 3), mk('sell', 108, 4)];
    for (const o of [...bids, ...asks]) assert.equal(b.add(o), true);
    assert.equal(b.bestPrice('buy'), 103);
    assert.equal(b.bestPrice('sell'), 107);
    assert.equal(b.best('buy'), bids[1]);
    assert.equal(b.best('sell'), asks[1]);
    assert.deepEqual(
      b.depth(10).bids.map(([p]) => p),
      [103, 101, 100, 99],
    );
    assert.deepEqual(
      b.depth(10).asks.map(([p]) => p),
      [107, 108, 110, 112],
    );
    assert.deepEqual(
      ids(b.orders()),
      [bids[1], bids[3], bids[0], bids[2], asks[1], asks[3], asks[0], asks[2]].map((o) => o!.id),
    );
    b.checkInvariants();
  });

  test('FIFO within a level', () => {
    const b = new OrderBook({ maxLevelsPerSide: 10 });
    const os = [mk('sell', 50, 5), mk('sell', 50, 6), mk('sell', 50, 7)];
    for (const o of os) b.add(o);
    assert.equal(b.best('sell'), os[0]);
    assert.deepEqual(
      chain(b, 'sell'),
      os.map((o) => o.id),
    );
    assert.equal(b.levelCount('sell'), 1);
    assert.deepEqual(b.depth(1).asks, [[50, 18]]);
    b.remove(os[0]!);
    assert.equal(b.best('sell'), os[1]);
    b.checkInvariants();
  });

  test('remove head, middle and tail of a level; the emptied level disappears', () => {
    const b = new OrderBook({ maxLevelsPerSide: 10 });
    const [a, c, d, e] = [mk('buy', 10, 1), mk('buy', 10, 2), mk('buy', 10, 3), mk('buy', 10, 4)];
    for (const o of [a!, c!, d!, e!]) b.add(o);
    b.remove(c!); // middle
    assert.deepEqual(chain(b, 'buy'), [a!.id, d!.id, e!.id]);
    assert.deepEqual(b.depth(1).bids, [[10, 8]]);
    b.checkInvariants();
    b.remove(a!); // head
    assert.equal(b.best('buy'), d);
    assert.deepEqual(b.depth(1).bids, [[10, 7]]);
    b.checkInvariants();
    b.remove(e!); // tail
    assert.deepEqual(chain(b, 'buy'), [d!.id]);
    b.checkInvariants();
    // the removed orders are detached and can be re-added (at the back)
    assert.equal(a!.level, null);
    assert.equal(a!.prev, null);
    assert.equal(a!.next, null);
    b.add(a!);
    assert.deepEqual(chain(b, 'buy'), [d!.id, a!.id]);
    b.remove(d!);
    b.remove(a!);
    assert.equal(b.levelCount('buy'), 0);
    assert.equal(b.orderCount(), 0);
    assert.equal(b.best('buy'), null);
    b.checkInvariants();
  });

  test('removing a non-best level (splice path) keeps the others sorted', () => {
    const b = new OrderBook({ maxLevelsPerSide: 10 });
    const os = [100, 104, 102, 103, 101].map((p) => mk('sell', p, 1));
    for (const o of os) b.add(o);
    b.remove(os[2]!); // 102
    b.remove(os[1]!); // 104 (worst)
    assert.deepEqual(
      b.depth(10).asks.map(([p]) => p),
      [100, 101, 103],
    );
    b.remove(os[0]!); // best
    assert.equal(b.bestPrice('sell'), 101);
    b.checkInvariants();
  });

  test('reduce keeps time priority and updates level totals', () => {
    const b = new OrderBook({ maxLevelsPerSide: 10 });
    const [x, y] = [mk('sell', 20, 10), mk('sell', 20, 10)];
    b.add(x!);
    b.add(y!);
    b.reduce(x!, 3);
    assert.equal(x!.remainingLots, 3);
    assert.equal(b.best('sell'), x);
    assert.deepEqual(b.depth(1).asks, [[20, 13]]);
    b.reduce(x!, 3); // equal: no-op
    assert.deepEqual(b.depth(1).asks, [[20, 13]]);
    assert.throws(() => b.reduce(x!, 4), RangeError); // growing is not a reduce
    assert.throws(() => b.reduce(x!, 0), RangeError);
    assert.throws(() => b.reduce(x!, 1.5), RangeError);
    assert.equal(x!.remainingLots, 3);
    assert.deepEqual(chain(b, 'sell'), [x!.id, y!.id]);
    b.checkInvariants();
  });

  test('level cap: a new level beyond the cap returns false and changes nothing', () => {
    const b = new OrderBook({ maxLevelsPerSide: 2 });
    const o1 = mk('buy', 10, 1);
    const o2 = mk('buy', 11, 1);
    assert.equal(b.add(o1), true);
    assert.equal(b.add(o2), true);
    const before = { depth: b.depth(10), orders: ids(b.orders()), count: b.orderCount() };
    const o3 = mk('buy', 12, 1);
    assert.equal(b.add(o3), false);
    assert.equal(o3.level, null);
    assert.equal(o3.prev, null);
    assert.equal(o3.next, null);
    assert.deepEqual({ depth: b.depth(10), orders: ids(b.orders()), count: b.orderCount() }, before);
    // joining an existing level is still fine, and the other side has its own cap
    assert.equal(b.add(mk('buy', 10, 5)), true);
    assert.equal(b.add(mk('sell', 20, 1)), true);
    assert.equal(b.add(mk('sell', 21, 1)), true);
    assert.equal(b.add(mk('sell', 22, 1)), false);
    // freeing a level makes room again
    b.remove(o2);
    assert.equal(b.add(o3), true);
    assert.equal(b.bestPrice('buy'), 12);
    b.checkInvariants();
  });

  test('depth aggregates lots per level and honours the level limit', () => {
    const b = new OrderBook({ maxLevelsPerSide: 10 });
    for (const [p, l] of [
      [100, 1],
      [100, 2],
      [99, 5],
      [98, 7],
      [100, 3],
    ] as const)
      b.add(mk('buy', p, l));
    for (const [p, l] of [
      [101, 4],
      [102, 1],
      [101, 6],
    ] as const)
      b.add(mk('sell', p, l));
    assert.deepEqual(b.depth(10), {
      bids: [
        [100, 6],
        [99, 5],
        [98, 7],
      ],
      asks: [
        [101, 10],
        [102, 1],
      ],
    });
    assert.deepEqual(b.depth(1), { bids: [[100, 6]], asks: [[101, 10]] });
    assert.deepEqual(b.depth(0), { bids: [], asks: [] });
    assert.equal(b.lotsAt('buy', 99), 5);
    assert.equal(b.lotsAt('buy', 97), 0);
  });

  test('liquidityUpTo: limit, needLots cap and self-trade exclusion', () => {
    const b = new OrderBook({ maxLevelsPerSide: 10 });
    b.add(mk('sell', 100, 5, 1));
    b.add(mk('sell', 100, 3, 2));
    b.add(mk('sell', 101, 4, 1));
    b.add(mk('sell', 103, 10, 3));
    b.add(mk('buy', 98, 2, 1));
    b.add(mk('buy', 97, 6, 2));
    // buy taker walks asks up to the limit
    assert.equal(b.liquidityUpTo('buy', 99, 100), 0);
    assert.equal(b.liquidityUpTo('buy', 100, 100), 8);
    assert.equal(b.liquidityUpTo('buy', 102, 100), 12);
    assert.equal(b.liquidityUpTo('buy', 103, 100), 22);
    assert.equal(b.liquidityUpTo('buy', 103, 9), 9); // stops (capped) once reached
    assert.equal(b.liquidityUpTo('buy', 103, 0), 0);
    // excluding account 1 (self-trade)
    assert.equal(b.liquidityUpTo('buy', 101, 100, 1), 3);
    assert.equal(b.liquidityUpTo('buy', 103, 100, 1), 13);
    assert.equal(b.liquidityUpTo('buy', 103, 13, 1), 13);
    assert.equal(b.liquidityUpTo('buy', 103, 100, 3), 12);
    // sell taker walks bids down to the limit
    assert.equal(b.liquidityUpTo('sell', 99, 100), 0);
    assert.equal(b.liquidityUpTo('sell', 98, 100), 2);
    assert.equal(b.liquidityUpTo('sell', 1, 100), 8);
    assert.equal(b.liquidityUpTo('sell', 1, 100, 2), 2);
    assert.equal(b.liquidityUpTo('sell', 1, 100, 1), 6);
    // nothing was mutated
    b.checkInvariants();
    assert.equal(b.orderCount(), 6);
  });

  test('nextAfter walks FIFO, then the next-worse level, then null', () => {
    const b = new OrderBook({ maxLevelsPerSide: 10 });
    const a1 = mk('sell', 10, 1);
    const a2 = mk('sell', 10, 1);
    const a3 = mk('sell', 12, 1);
    const a4 = mk('sell', 11, 1);
    const b1 = mk('buy', 9, 1);
    for (const o of [a1, a2, a3, a4, b1]) b.add(o);
    assert.equal(b.nextAfter(a1), a2);
    assert.equal(b.nextAfter(a2), a4);
    assert.equal(b.nextAfter(a4), a3);
    assert.equal(b.nextAfter(a3), null); // never crosses to the other side
    assert.equal(b.nextAfter(b1), null);
    assert.deepEqual(chain(b, 'sell'), [a1.id, a2.id, a4.id, a3.id]);
    assert.throws(() => b.nextAfter(mk('sell', 10, 1)), /not resting/);
  });

  test('misuse throws and changes nothing', () => {
    const b = new OrderBook({ maxLevelsPerSide: 10 });
    const other = new OrderBook({ maxLevelsPerSide: 10 });
    const o = mk('buy', 10, 1);
    b.add(o);
    assert.throws(() => b.add(o), /already resting/);
    assert.throws(() => other.remove(o), /not resting in this book/);
    assert.throws(() => other.reduce(o, 1), /not resting in this book/);
    const loose = mk('buy', 10, 1);
    assert.throws(() => b.remove(loose), /not resting/);
    assert.throws(() => b.add(mk('buy', 0, 1)), RangeError);
    assert.throws(() => b.add(mk('buy', 10.5, 1)), RangeError);
    assert.throws(() => b.add(mk('buy', 10, 0)), RangeError);
    assert.throws(() => b.add(mk('buy', 10, -1)), RangeError);
    assert.throws(() => b.add(mk('buy', 10, 2 ** 53)), RangeError);
    assert.equal(b.orderCount(), 1);
    b.checkInvariants();
    other.checkInvariants();
  });

  test('a level total beyond 2^53-1 lots is refused before anything changes', () => {
    const b = new OrderBook({ maxLevelsPerSide: 10 });
    for (let i = 0; i < 7; i++) b.add(mk('sell', 5, 2 ** 50));
    assert.throws(() => b.add(mk('sell', 5, 2 ** 50)), /exceed/);
    assert.equal(b.orderCount(), 7);
    assert.deepEqual(b.depth(1).asks, [[5, 7 * 2 ** 50]]);
    b.checkInvariants();
  });

  test('extreme prices within the engine contract', () => {
    const b = new OrderBook({ maxLevelsPerSide: 10 });
    b.add(mk('buy', 1, 2 ** 50));
    b.add(mk('sell', 2 ** 47, 1));
    assert.equal(b.bestPrice('buy'), 1);
    assert.equal(b.bestPrice('sell'), 2 ** 47);
    assert.equal(b.liquidityUpTo('buy', 2 ** 47, 2 ** 50), 1);
    assert.equal(b.liquidityUpTo('sell', 1, 2 ** 50), 2 ** 50);
    b.checkInvariants();
  });

  test('orders() lists bids best-first then asks best-first, FIFO within levels', () => {
    const b = new OrderBook({ maxLevelsPerSide: 10 });
    const s1 = mk('sell', 30, 1);
    const b1 = mk('buy', 20, 1);
    const b2 = mk('buy', 21, 1);
    const s2 = mk('sell', 29, 1);
    const b3 = mk('buy', 21, 1);
    for (const o of [s1, b1, b2, s2, b3]) b.add(o);
    assert.deepEqual(ids(b.orders()), [b2.id, b3.id, b1.id, s2.id, s1.id]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Model-based: random add/remove/reduce sequences against a naive sorted-array reference.

type Op =
  | { kind: 'add'; side: BookSide; price: number; lots: number; account: number }
  | { kind: 'remove'; pick: number }
  | { kind: 'reduce'; pick: number; to: number }
  | { kind: 'fillBest'; side: BookSide; lots: number };

interface Query {
  takerSide: BookSide;
  limit: number;
  need: number;
  exclude: number | undefined;
  levels: number;
}

const PRICE_MIN = 100;
const PRICE_SPAN = 10;

const sideArb = fc.constantFrom<BookSide>('buy', 'sell');
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('add' as const),
      side: sideArb,
      price: fc.integer({ min: PRICE_MIN, max: PRICE_MIN + PRICE_SPAN - 1 }),
      lots: fc.oneof(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 2 ** 40 })),
      account: fc.integer({ min: 0, max: 3 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('reduce' as const), pick: fc.nat(), to: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('fillBest' as const),
      side: sideArb,
      lots: fc.integer({ min: 1, max: 30 }),
    }),
  },
);
const queryArb: fc.Arbitrary<Query> = fc.record({
  takerSide: sideArb,
  limit: fc.integer({ min: PRICE_MIN - 1, max: PRICE_MIN + PRICE_SPAN }),
  need: fc.integer({ min: 0, max: 80 }),
  exclude: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
  levels: fc.integer({ min: 0, max: PRICE_SPAN + 1 }),
});

/** Reference: sorted by (price priority, id). Bids first then asks — the same order as OrderBook.orders(). */
function refSorted(live: readonly BookOrder[], side: BookSide): BookOrder[] {
  return live
    .filter((o) => o.side === side)
    .sort((a, b) =>
      a.priceTicks !== b.priceTicks
        ? side === 'buy'
          ? b.priceTicks - a.priceTicks
          : a.priceTicks - b.priceTicks
        : a.id - b.id,
    );
}

function refDepth(sorted: readonly BookOrder[], max: number): [number, number][] {
  const out: [number, number][] = [];
  for (const o of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && last[0] === o.priceTicks) last[1] += o.remainingLots;
    else out.push([o.priceTicks, o.remainingLots]);
  }
  return out.slice(0, max);
}

function refLiquidity(live: readonly BookOrder[], q: Query): number {
  if (q.need <= 0) return 0;
  const makers = refSorted(live, q.takerSide === 'buy' ? 'sell' : 'buy');
  let total = 0;
  for (const o of makers) {
    const ok = q.takerSide === 'buy' ? o.priceTicks <= q.limit : o.priceTicks >= q.limit;
    if (!ok) break;
    if (q.exclude !== undefined && o.accountId === q.exclude) continue;
    total += o.remainingLots;
  }
  return Math.min(total, q.need);
}

function compare(book: OrderBook, live: readonly BookOrder[], cap: number, q: Query): void {
  book.checkInvariants();
  const bids = refSorted(live, 'buy');
  const asks = refSorted(live, 'sell');
  assert.deepEqual(
    Array.from(book.orders(), (o) => [o.id, o.remainingLots]),
    [...bids, ...asks].map((o) => [o.id, o.remainingLots]),
  );
  assert.equal(book.best('buy'), bids[0] ?? null);
  assert.equal(book.best('sell'), asks[0] ?? null);
  assert.equal(book.bestPrice('buy'), bids[0]?.priceTicks ?? null);
  assert.equal(book.bestPrice('sell'), asks[0]?.priceTicks ?? null);
  assert.deepEqual(book.depth(1_000), { bids: refDepth(bids, 1_000), asks: refDepth(asks, 1_000) });
  assert.deepEqual(book.depth(q.levels), { bids: refDepth(bids, q.levels), asks: refDepth(asks, q.levels) });
  assert.equal(book.levelCount('buy'), refDepth(bids, Infinity).length);
  assert.equal(book.levelCount('sell'), refDepth(asks, Infinity).length);
  assert.ok(book.levelCount('buy') <= cap && book.levelCount('sell') <= cap);
  assert.equal(book.orderCount(), live.length);
  assert.deepEqual(
    chain(book, 'buy'),
    bids.map((o) => o.id),
  );
  assert.deepEqual(
    chain(book, 'sell'),
    asks.map((o) => o.id),
  );
  assert.equal(book.liquidityUpTo(q.takerSide, q.limit, q.need, q.exclude), refLiquidity(live, q));
}

describe('OrderBook model-based', () => {
  test('random add/remove/reduce/fill sequences match a naive reference after every step', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: PRICE_SPAN + 1 }),
        fc.array(fc.tuple(opArb, queryArb), { maxLength: 120 }),
        (cap, steps) => {
          const book = new OrderBook({ maxLevelsPerSide: cap });
          const live: BookOrder[] = [];
          let id = 0;
          const drop = (o: BookOrder) => live.splice(live.indexOf(o), 1);
          for (const [op, q] of steps) {
            switch (op.kind) {
              case 'add': {
                const o = mk(op.side, op.price, op.lots, op.account, ++id);
                const levelExists = live.some((x) => x.side === op.side && x.priceTicks === op.price);
                const levels = new Set(live.filter((x) => x.side === op.side).map((x) => x.priceTicks)).size;
                const expectOk = levelExists || levels < cap;
                assert.equal(book.add(o), expectOk);
                if (expectOk) live.push(o);
                else assert.equal(o.level, null);
                break;
              }
              case 'remove': {
                if (live.length === 0) break;
                const o = live[op.pick % live.length]!;
                book.remove(o);
                drop(o);
                break;
              }
              case 'reduce': {
                if (live.length === 0) break;
                const o = live[op.pick % live.length]!;
                book.reduce(o, 1 + (op.to % o.remainingLots));
                break;
              }
              case 'fillBest': {
                // what a matcher does: consume from the best maker, reduce or remove it
                let left = op.lots;
                for (let m = book.best(op.side); m !== null && left > 0; m = book.best(op.side)) {
                  const fill = Math.min(left, m.remainingLots);
                  left -= fill;
                  if (fill === m.remainingLots) {
                    book.remove(m);
                    drop(m);
                  } else book.reduce(m, m.remainingLots - fill);
                }
                break;
              }
            }
            compare(book, live, cap, q);
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  test('seeded long run: 50k operations over many levels keep the invariants and the reference', () => {
    const rng = new Rng(12345);
    const rnd = rng.next;
    const int = (n: number) => rng.below(n);
    const book = new OrderBook({ maxLevelsPerSide: 300 });
    const live: BookOrder[] = [];
    let rejected = 0;
    for (let i = 1; i <= 50_000; i++) {
      const r = rnd();
      if (r < 0.55 || live.length === 0) {
        const o = mk(int(2) ? 'buy' : 'sell', 1_000 + int(400), 1 + int(50), int(10), i);
        if (book.add(o)) live.push(o);
        else rejected++;
      } else if (r < 0.85) {
        const k = int(live.length);
        book.remove(live[k]!);
        live[k] = live[live.length - 1]!;
        live.pop();
      } else {
        const o = live[int(live.length)]!;
        book.reduce(o, 1 + int(o.remainingLots));
      }
      if (i % 5_000 === 0)
        compare(book, live, 300, { takerSide: 'buy', limit: 1_200, need: 1e9, exclude: 3, levels: 50 });
    }
    assert.ok(rejected > 0, 'the level cap was exercised');
  });
});
