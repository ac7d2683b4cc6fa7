/**
 * What the router answers: one shard's response relayed (its status, body bytes and the headers a client reads), or
 * the router's own JSON. Every answer that came from a shard names it in `x-rf-shard`.
 */
import type { FastifyReply } from 'fastify';
import { SHARD_HEADER } from './resolve.ts';
import { ShardUnavailable, type UpstreamResponse } from './upstream.ts';

export type FinalAnswer =
  | { status: number; json: unknown; shard: string | null; headers?: Record<string, string> }
  | { status: number; raw: UpstreamResponse; shard: string };

/** The shard's headers a client may read; hop-by-hop and framing headers are the router's own. */
const RELAYED = ['content-type', 'retry-after', 'x-rf-seq', 'location'] as const;

export function send(reply: FastifyReply, a: FinalAnswer): FastifyReply {
  void reply.code(a.status);
  if (a.shard !== null) void reply.header(SHARD_HEADER, a.shard);
  if ('raw' in a) {
    for (const h of RELAYED) {
      const v = a.raw.headers[h];
      if (typeof v === 'string') void reply.header(h, v);
    }
    return reply.send(a.raw.body);
  }
  for (const [k, v] of Object.entries(a.headers ?? {})) void reply.header(k, v);
  return reply.type('application/json; charset=utf-8').send(JSON.stringify(a.json));
}

/** A shard that could not be reached: 503 SHARD_UNAVAILABLE naming it (and whether a write may have arrived). */
export function unavailable(e: ShardUnavailable, write: boolean): FinalAnswer {
  const maybe = write && e.sent;
  return {
    status: 503,
    json: {
      code: 'SHARD_UNAVAILABLE',
      message: maybe
        ? `${e.message}; the request may have been applied: look before sending it again`
        : e.message,
      shard: e.shard,
      ...(maybe ? { outcome: 'unknown' } : {}),
    },
    shard: e.shard,
    headers: { 'retry-after': '1' },
  };
}

export { ShardUnavailable };
