/** Operations: health (for load balancers and deploy checks) and Prometheus metrics. */
import { Type } from 'typebox';
import type { App, RouteContext } from '../server.ts';

export const HealthSchema = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('degraded')]),
  reason: Type.Union([Type.String(), Type.Null()]),
  seq: Type.Integer(),
  published: Type.Integer(),
  pending: Type.Integer(),
  wsClients: Type.Integer(),
  /** Where the last recovery started: the snapshot's seq (null: a full replay), and the records replayed after it. */
  recovery: Type.Object({ snapshotSeq: Type.Union([Type.Integer(), Type.Null()]), replayed: Type.Integer() }),
  /**
   * High availability (a `nats://` journal): this process's role now (`leader` without HA), the leader as the lease
   * names it (null: none known, or no HA), the journal's last seq as this follower last saw it (null on a leader) and
   * how far behind it the engine is (`streamSeq − seq`; 0 on a leader).
   */
  role: Type.Union([Type.Literal('leader'), Type.Literal('standby'), Type.Literal('replica')]),
  leader: Type.Union([
    Type.Object({ id: Type.String(), url: Type.String(), since: Type.Integer() }),
    Type.Null(),
  ]),
  streamSeq: Type.Union([Type.Integer(), Type.Null()]),
  lag: Type.Integer(),
});

export function registerOpsRoutes(app: App, ctx: RouteContext): void {
  const { service, metrics } = ctx;

  app.get(
    '/health',
    {
      config: { auth: 'public' },
      schema: {
        tags: ['ops'],
        summary:
          'Liveness, the journal position and the HA role (leader, standby, replica) with the leader and the lag; 503 while recovering',
        response: {
          200: HealthSchema,
          503: HealthSchema,
        },
      },
    },
    async (_req, reply) => {
      const degraded = service.degraded;
      const ha = service.ha;
      const seq = service.engine.seq;
      const streamSeq = ha?.streamSeq ?? null;
      const body = {
        status: degraded ? ('degraded' as const) : ('ok' as const),
        reason: degraded,
        seq,
        published: service.published,
        pending: service.journal.pending,
        wsClients: ctx.ws.clientCount,
        recovery: {
          snapshotSeq: service.recovery.snapshot?.seq ?? null,
          replayed: service.recovery.records,
        },
        role: ha?.role ?? ('leader' as const),
        leader: ha?.leader ?? null,
        streamSeq,
        lag: streamSeq === null ? 0 : Math.max(0, streamSeq - seq),
      };
      return reply.code(degraded ? 503 : 200).send(body);
    },
  );

  // `off`: no route at all (404). `admin`: a signed request of an admin key (Prometheus can sign via a sidecar,
  // or scrape over loopback where the default is public).
  if (ctx.exposure.metrics === 'off') return;
  app.get(
    '/metrics',
    {
      config: { auth: ctx.exposure.metrics === 'admin' ? 'admin' : 'public' },
      schema: { tags: ['ops'], summary: 'Prometheus metrics (text exposition format)' },
    },
    async (_req, reply) => {
      const text = await metrics.registry.metrics();
      return reply.type(metrics.registry.contentType).send(text);
    },
  );
}
