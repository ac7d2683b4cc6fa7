/**
 * Options: the public option chain of an underlying (marks, IVs, Greeks, best bid/ask, open interest per strike) and
 * the admin commands that create chains and feed vols. Option markets are also in `GET markets?type=option`, and
 * option positions carry their Greeks wherever positions are shown (options.ts).
 */
import { optionChainName } from '../../engine/commands/options.ts';
import { marketView } from '../codec.ts';
import { accepted } from '../commands.ts';
import {
  OptionChainBody,
  OptionChainResultSchema,
  OptionChainViewSchema,
  UnderlyingParams,
  VolQuoteBody,
  VolQuoteResultSchema,
} from '../option-schemas.ts';
import { optionChain, optionChainCommand, volQuoteCommand, volUpdateItem } from '../options.ts';
import { ErrorBody } from '../schemas.ts';
import { type App, type RouteContext, signed } from '../server.ts';
import { requireOwned } from '../shard/markets.ts';

const errors = { '4xx': ErrorBody, '5xx': ErrorBody };

/** Options per public-rate-limit token of a chain read: each costs a Black-76 with Greeks (~10 µs in bigint). */
export const CHAIN_OPTIONS_PER_TOKEN = 64;

export function registerOptionRoutes(app: App, ctx: RouteContext): void {
  const { service } = ctx;

  app.get(
    '/api/v1/option-chain/:underlying',
    {
      // 1 token, plus 1 per CHAIN_OPTIONS_PER_TOKEN options priced (at most 256 markets: ≤ 5 tokens).
      config: {
        auth: 'public',
        cost: (req) => {
          const u = (req.params as { underlying?: unknown }).underlying;
          let n = 0;
          for (const f of service.engine.optionFeeds.values()) if (f.underlying === u) n += f.markets.length;
          return 1 + Math.ceil(n / CHAIN_OPTIONS_PER_TOKEN);
        },
      },
      schema: {
        tags: ['market data'],
        summary:
          'Option chain of an underlying market: per expiry its forward and vol feed, per strike the call and the put with mark, IV, Greeks (per unit), best bid/ask and open interest',
        params: UnderlyingParams,
        response: { 200: OptionChainViewSchema, ...errors },
      },
    },
    async (req) => optionChain(service.engine, service.mirror, req.params.underlying),
  );

  app.post(
    '/api/v1/admin/option-chain',
    {
      config: { auth: 'admin' },
      schema: {
        tags: ['admin'],
        ...signed,
        summary:
          'Create an option chain: one market per expiry × strike × type on an underlying market (all or none)',
        body: OptionChainBody,
        response: { 200: OptionChainResultSchema, ...errors },
      },
    },
    async (req) => {
      // The chain's markets must be this shard's as its underlying is (the router finds options by symbol).
      if (ctx.config.shard !== null) {
        requireOwned(ctx.config.shard, req.body.underlying);
        const u = service.engine.markets.get(req.body.underlying);
        if (u !== undefined)
          requireOwned(
            ctx.config.shard,
            `${optionChainName(u.config.base, u.config.quote, req.body.settle)}-*`,
          );
      }
      const r = accepted(await service.submit(optionChainCommand(req.body)));
      const e = service.engine;
      const markets = r.events.flatMap((ev) => {
        const m = ev.type === 'marketCreated' ? e.markets.get(ev.symbol) : undefined;
        return m ? [marketView(m)] : [];
      });
      return { seq: r.seq, markets };
    },
  );

  app.post(
    '/api/v1/admin/vol',
    {
      config: { auth: 'admin' },
      schema: {
        tags: ['admin'],
        ...signed,
        summary:
          'Quote the vol smile of one expiry of an underlying (raw SVI or IVs per strike); that expiry’s options are re-marked',
        body: VolQuoteBody,
        response: { 200: VolQuoteResultSchema, ...errors },
      },
    },
    async (req) => {
      const r = accepted(await service.submit(volQuoteCommand(req.body)));
      const item = volUpdateItem(service.engine, req.body.underlying, req.body.expiry);
      if (item === null) throw new Error('bug: a vol quote accepted without its feed');
      const { type: _type, ...rest } = item;
      return { seq: r.seq, ...rest };
    },
  );
}
