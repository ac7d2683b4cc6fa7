/** Operations: health (for load balancers and deploy checks) and Prometheus metrics. */
import { Type } from 'typebox';
import type { App, RouteContext } from '../server.ts';

const HealthSchema = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('degraded')]),
  reason: Type.Union([Type.String(), Type.Null()]),
  seq: Type.Integer(),
  published: Type.Integer(),
  pending: Type.Integer(),
  wsClients: Type.Integer(),
  /** Where the last recovery started: the snapshot's seq (null: a full replay), and the records replayed after it. */
  recovery: Type.Object({ snapshotSeq: Type.Union([Type.Integer(), Type.Null()]), replayed: Type.Integer() }),
});

export function registerOpsRoutes(app: App, ctx: RouteContext): void {
  const { service, metrics } = ctx;

  app.get(
    '/health',
    {
      config: { auth: 'public' },
      schema: {
        tags: ['ops'],
        summary: 'Liveness and the journal position; 503 while recovering from a failed commit',
        response: {
          200: HealthSchema,
          503: HealthSchema,
        },
      },
    },
    async (_req, reply) => {
      const degraded = service.degraded;
      const body = {
        status: degraded ? ('degraded' as const) : ('ok' as const),
        reason: degraded,
        seq: service.engine.seq,
        published: service.published,
        pending: service.journal.pending,
        wsClients: ctx.ws.clientCount,
        recovery: {
          snapshotSeq: service.recovery.snapshot?.seq ?? null,
          replayed: service.recovery.records,
        },
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
