/**
 * The order-entry hot path keeps its guarantees while doing less per order: a WebSocket client's frames of one tick
 * leave in one write (corked until the tick's acknowledgements are all queued, then handed over in order); fastify
 * logs every request only at debug and trace (at info that is two lines per order); the per-message and per-request
 * counters still reach /metrics; and a refused submit or a malformed order is a rejected promise, never a
 * synchronous throw that would escape a caller's `.catch`.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { sign } from '../../src/service/auth.ts';
import { buildServer, logsRequests } from '../../src/service/server.ts';
import { CORK_FLUSH_BYTES, WsClient } from '../../src/service/ws.ts';
import { BTCUSDT, Harness, KEYS } from './helpers.ts';
import { WsTestClient } from './wsclient.ts';

const T = { timeout: 30_000 };
type WsSocket = WsClient['socket'];
const OPEN = 1;
const CLOSED = 3;
const tick = () => new Promise<void>((resolve) => process.nextTick(resolve));

/** A ws WebSocket stand-in whose underlying TCP socket records corks, uncorks and what was written. */
function fakeSocket() {
  const log: string[] = [];
  const raw = {
    corks: 0,
    uncorks: 0,
    cork() {
      this.corks += 1;
      log.push('cork');
    },
    uncork() {
      this.uncorks += 1;
      log.push('uncork');
    },
  };
  const socket = {
    readyState: OPEN as WsSocket['readyState'],
    bufferedAmount: 0,
    _socket: raw,
    send(text: string) {
      log.push(text);
    },
    terminate() {
      this.readyState = CLOSED;
    },
    close() {},
  };
  return { socket, raw, log };
}

describe('WebSocket frames of one tick leave together', () => {
  test(
    'the first delivery corks the socket, the end of the tick uncorks it, nothing is reordered',
    T,
    async () => {
      const { socket, raw, log } = fakeSocket();
      const c = new WsClient(socket, 1 << 20, '127.0.0.1', () => {});
      assert.equal(c.deliver('a'), true);
      assert.equal(c.deliver('b'), true);
      assert.equal(c.deliver('c'), true);
      assert.equal(raw.uncorks, 0, 'still corked within the tick');
      await tick();
      assert.deepEqual(log, ['cork', 'a', 'b', 'c', 'uncork']);
      // The next tick corks again.
      c.deliver('d');
      await tick();
      assert.deepEqual(log.slice(5), ['cork', 'd', 'uncork']);
      assert.equal(raw.corks, raw.uncorks);
    },
  );

  test(
    'promise continuations queued in the tick (every acknowledgement of a commit) go in the same write',
    T,
    async () => {
      const { socket, log } = fakeSocket();
      const c = new WsClient(socket, 1 << 20, '127.0.0.1', () => {});
      // A commit resolves its acknowledgements together; each reply is sent a few promise hops later.
      let resolveCommit!: () => void;
      const committed = new Promise<void>((r) => {
        resolveCommit = r;
      });
      const replies = [1, 2, 3].map((i) =>
        committed
          .then(() => Promise.resolve())
          .then(() => {
            c.deliver(`ack${i}`);
          }),
      );
      resolveCommit();
      await Promise.all(replies);
      await tick();
      assert.deepEqual(log, ['cork', 'ack1', 'ack2', 'ack3', 'uncork']);
    },
  );

  test(
    'a burst past CORK_FLUSH_BYTES goes out at once, and the socket stays corked for the rest of the tick',
    T,
    async () => {
      const { socket, raw, log } = fakeSocket();
      const c = new WsClient(socket, 16 * CORK_FLUSH_BYTES, '127.0.0.1', () => {});
      c.deliver('small');
      socket.bufferedAmount = CORK_FLUSH_BYTES; // what is now waiting in the socket
      c.deliver('big');
      assert.deepEqual(log, ['cork', 'small', 'big', 'uncork', 'cork'], 'flushed, then corked again');
      socket.bufferedAmount = 0;
      c.deliver('after');
      await tick();
      assert.deepEqual(log.slice(5), ['after', 'uncork']);
      assert.equal(raw.corks, raw.uncorks, 'every cork is released');
    },
  );

  test('a client dropped while corked, or a socket without a TCP handle, is handled', T, async () => {
    const { socket, raw } = fakeSocket();
    const c = new WsClient(socket, 1 << 20, '127.0.0.1', () => {});
    c.deliver('x');
    c.drop('test');
    assert.equal(c.deliver('y'), false, 'a dropped client takes nothing');
    await tick();
    assert.equal(raw.uncorks, 1, 'the cork is released even so');
    const sent: string[] = [];
    const plain = {
      readyState: OPEN as WsSocket['readyState'],
      bufferedAmount: 0,
      send: (t: string) => {
        sent.push(t);
      },
      terminate() {},
      close() {},
    };
    const d = new WsClient(plain, 1 << 20, '127.0.0.1', () => {});
    d.deliver('p');
    d.deliver('q');
    assert.deepEqual(sent, ['p', 'q'], 'without a TCP handle frames go one by one, at once');
  });

  test(
    'over a real socket: a burst of orders, each answered once with its id, and the counters see them',
    T,
    async () => {
      const h = await Harness.open();
      try {
        await h.setupMarket();
        const ws = await WsTestClient.connect(await h.listen());
        try {
          const ts = h.nextTimestamp();
          const login = await ws.request('login', {
            key: KEYS.alice.key,
            timestamp: ts,
            signature: sign(KEYS.alice.secret, ts, 'GET', '/ws'),
          });
          assert.equal(login.success, true, JSON.stringify(login));
          const n = 24;
          const answers = await Promise.all(
            Array.from({ length: n }, (_, i) =>
              ws.request('order.place', {
                symbol: 'BTCUSDT',
                side: 'buy',
                type: 'limit',
                price: String(50_000 + i),
                amount: '0.001',
                clientOrderId: `burst-${i}`,
              }),
            ),
          );
          answers.forEach((a, i) => {
            assert.equal(a.success, true, JSON.stringify(a));
            assert.equal(a.data.clientOrderId, `burst-${i}`);
          });
          const responses = ws.messages.filter((m) => m.op === 'order.place');
          assert.equal(responses.length, n, 'each order answered exactly once');
          const metrics = await h.call('GET', '/metrics');
          const count = (dir: string) =>
            Number(
              new RegExp(`ringfence_ws_messages_total\\{direction="${dir}"\\} (\\d+)`).exec(
                metrics.text,
              )?.[1],
            );
          assert.ok(count('in') >= n + 1, `messages in: ${count('in')}`);
          assert.ok(count('out') >= n + 1, `messages out: ${count('out')}`);
          assert.match(
            metrics.text,
            /ringfence_http_requests_total\{route="\/api\/v1\/admin\/markets",method="POST",status="200"\} 1/,
          );
        } finally {
          ws.terminate();
        }
      } finally {
        await h.cleanup();
      }
    },
  );
});

describe('request logging', () => {
  test('fastify logs every request only at debug and trace', T, async () => {
    for (const [level, expected] of [
      ['info', false],
      ['warn', false],
      ['debug', true],
      ['trace', true],
    ] as const) {
      const lines: string[] = [];
      const logger = pino({ level }, { write: (l: string) => lines.push(l) });
      assert.equal(logsRequests(logger), expected, level);
      const h = await Harness.open();
      const app = await buildServer(h.service, h.config, { logger });
      try {
        const r = await app.inject({ method: 'GET', url: '/api/v1/markets' });
        assert.equal(r.statusCode, 200);
        const perRequest = lines.filter((l) => /incoming request|request completed/.test(l));
        assert.equal(perRequest.length, expected ? 2 : 0, `${level}: ${perRequest.length} request lines`);
      } finally {
        await app.close();
        await h.cleanup();
      }
    }
    assert.equal(logsRequests(undefined), false);
  });
});

describe('refusals are rejected promises', () => {
  test(
    'submit after close, and an order that cannot become a command, reject instead of throwing',
    T,
    async () => {
      const h = await Harness.open();
      try {
        await h.setupMarket();
        const { placeOrder } = await import('../../src/service/commands.ts');
        // A limit order without a price is refused before the engine sees it.
        const bad = placeOrder(h.service, 'alice', {
          symbol: BTCUSDT.symbol,
          side: 'buy',
          type: 'limit',
          amount: '0.001',
        });
        await assert.rejects(bad, (e: { status?: number; code?: string }) => e.status === 400);
        await h.service.close();
        let p: Promise<unknown> | undefined;
        assert.doesNotThrow(() => {
          p = h.service.submit({ type: 'tick' });
        });
        await assert.rejects(p!, (e: { status?: number; code?: string }) => e.status === 503);
      } finally {
        await h.cleanup();
      }
    },
  );
});
