/**
 * The operator's live figures — the journal's health and the service's own numbers — computed in one place for the
 * REST reads (`GET /api/v1/admin/journal`, `/admin/stats`) and the admin `ops` stream, which pushes both once a second
 * while someone is subscribed (so an operator screen shows them live without polling).
 */
import type { Static } from 'typebox';
import type { Metrics } from './metrics.ts';
import type { JournalHealthSchema, ServiceStatsSchema } from './routes/monitor.ts';
import type { Service } from './service.ts';

export type JournalHealth = Static<typeof JournalHealthSchema>;
export type ServiceStats = Static<typeof ServiceStatsSchema>;

/** Milliseconds to the microsecond: enough for an fsync's latency, short on the wire. */
export const round3 = (ms: number | null): number | null =>
  ms === null ? null : Math.round(ms * 1000) / 1000;

export function journalHealth(service: Service): JournalHealth {
  const j = service.journal;
  const t = j.commitTimes;
  const snap = j.lastSnapshot;
  return {
    store: j.store.kind ?? 'other',
    seq: service.engine.seq,
    committedSeq: j.committedSeq,
    pending: j.pending,
    lastCommitMs: round3(t.last),
    commitP50Ms: round3(t.quantile(0.5)),
    commitP99Ms: round3(t.quantile(0.99)),
    commits: j.stats.commits,
    lastSnapshot: snap === null ? null : { seq: snap.seq, time: snap.time },
    degraded: service.degraded !== null,
    reason: service.degraded,
  };
}

export function serviceStats(service: Service, metrics: Metrics, wsClients: number): ServiceStats {
  const t = performance.now();
  const totals = metrics.totals();
  const lag = metrics.loopLag.figures();
  const mem = process.memoryUsage();
  return {
    uptimeSeconds: Math.round((t - service.startedAt) / 100) / 10,
    wsClients,
    commandsPerSecond: Math.round(metrics.commandRate.perSecond(t) * 10) / 10,
    commandsTotal: totals.commands,
    rejectsTotal: totals.rejects,
    httpRequestsTotal: totals.http,
    eventLoopLagMs: round3(lag.p99Ms)!,
    eventLoopLagMeanMs: round3(lag.meanMs)!,
    rssBytes: mem.rss,
    heapUsedBytes: mem.heapUsed,
  };
}
