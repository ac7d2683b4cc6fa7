/**
 * ringfence as a ccxt exchange: code written for Binance or Bybit through ccxt's unified API runs against a
 * ringfence venue by changing the exchange class and the URL.
 *
 *   import { ringfence } from '@ringfence/ccxt';
 *   const ex = new ringfence({ apiKey, secret, urls: { api: { rest: 'https://venue.example' } } });
 *   await ex.loadMarkets();
 *   await ex.createOrder('BTC/USDT:USDT', 'limit', 'buy', 0.01, 60000, { clientOrderId: 'a1' });
 *
 * Unified symbols are ccxt's for derivatives: `BTC/USDT:USDT` (linear perpetual), `BTC/USD:BTC` (inverse),
 * `BTC/USDT:USDT-261225` (future), `BTC/USD:BTC-261225-60000-C` (option). Every structure is built by ccxt's own
 * `safe*` constructors from the service's decimal strings, so numbers, units and field names are ccxt's.
 *
 * Signing is the service's (docs/service.md): `x-rf-key`, `x-rf-timestamp` (ms, strictly increasing per key: each
 * signature is accepted once) and `x-rf-signature` = hex HMAC-SHA256(secret, "<ts>\n<METHOD>\n<path?query>\n<body>").
 * Errors come back as the service's `{code, message}` and are raised as ccxt's error classes (`exceptions` below).
 */
import { createHmac } from 'node:crypto';
import {
  ArgumentsRequired,
  BadRequest,
  type Balances,
  type Dict,
  Exchange,
  ExchangeError,
  errors,
  type FundingHistory,
  type FundingRate,
  type FundingRateHistory,
  functions,
  type Int,
  type LeverageTier,
  type LeverageTiers,
  type MarginModification,
  type Market,
  type MarketInterface,
  type Num,
  type OHLCV,
  type Order,
  type OrderBook,
  type OrderSide,
  type OrderType,
  type Position,
  Precise,
  type Str,
  type Strings,
  type Ticker,
  type Trade,
  type TransferEntry,
} from 'ccxt';

/** ccxt's WebSocket client (its type is not exported by name). */
type WsClient = ReturnType<Exchange['client']>;

/** A JSON object as the service answers it (decimals are strings). */
type Json = Record<string, unknown>;

const API_PREFIX = '/api/v1/';

// The service's error codes → ccxt's error classes (by name here, the classes themselves in `exceptions`).
const EXACT_NAMES: Record<string, keyof typeof errors> = {
  UNAUTHORIZED: 'AuthenticationError',
  FORBIDDEN: 'PermissionDenied',
  RATE_LIMITED: 'RateLimitExceeded',
  NOT_LEADER: 'ExchangeNotAvailable',
  UNAVAILABLE: 'ExchangeNotAvailable',
  REQUEST_TIMEOUT: 'RequestTimeout',
  INTERNAL: 'ExchangeError',
  NOT_FOUND: 'BadRequest',
  INVALID_INPUT: 'BadRequest',
  INVALID_JSON: 'BadRequest',
  INVALID_REQUEST: 'BadRequest',
  TOO_MANY_DECIMALS: 'InvalidOrder',
  INVALID_COMMAND: 'BadRequest',
  INVALID_QUANTITY: 'InvalidOrder',
  INVALID_PRICE: 'InvalidOrder',
  INVALID_AMOUNT: 'BadRequest',
  UNKNOWN_MARKET: 'BadSymbol',
  UNKNOWN_ACCOUNT: 'AuthenticationError',
  UNKNOWN_ASSET: 'BadRequest',
  UNKNOWN_ORDER: 'OrderNotFound',
  INSUFFICIENT_BALANCE: 'InsufficientFunds',
  INSUFFICIENT_MARGIN: 'InsufficientFunds',
  REDUCE_ONLY_WOULD_INCREASE: 'InvalidOrder',
  POST_ONLY_WOULD_TAKE: 'OrderImmediatelyFillable',
  FOK_NOT_FILLED: 'OrderNotFillable',
  PRICE_BAND: 'InvalidOrder',
  NO_REFERENCE_PRICE: 'OperationRejected',
  LEVERAGE_TOO_HIGH: 'BadRequest',
  POSITION_OPEN: 'OperationRejected',
  NOT_ISOLATED: 'BadRequest',
  TOO_MANY_ORDERS: 'InvalidOrder',
  BOOK_FULL: 'InvalidOrder',
  LIMIT_EXCEEDED: 'InvalidOrder',
  ORACLE_PAUSED: 'OperationRejected',
  MARKET_CLOSED: 'MarketClosed',
  MARKET_NOT_FLAT: 'OperationRejected',
  DUPLICATE_CLIENT_ORDER_ID: 'DuplicateOrderId',
  UNKNOWN_SILO: 'BadRequest',
  ASSET_MISMATCH: 'BadRequest',
  CLOSE_RAISES_REQUIREMENT: 'InsufficientFunds',
  WOULD_TRIGGER_IMMEDIATELY: 'InvalidOrder',
  TRIGGER_NOT_AMENDABLE: 'InvalidOrder',
};

const EXACT = Object.fromEntries(Object.entries(EXACT_NAMES).map(([code, name]) => [code, errors[name]]));

/** `yymmdd` of an expiry (UTC), as ccxt writes it into future and option symbols. */
function yymmdd(ms: number): string {
  return new Date(ms).toISOString().slice(2, 10).replace(/-/g, '');
}

/** Order parameters the engine takes beside ccxt's arguments, passed through `params` under these names. */
const ORDER_PARAMS = ['timeInForce', 'clientOrderId', 'stp', 'silo', 'reduceOnly', 'postOnly'] as const;

export class ringfence extends Exchange {
  /** The last timestamp signed: strictly increasing, so two identical requests never share a signature. */
  private lastSigned = 0;
  private wsRequestId = 0;
  /** Recent trades per symbol (watchTrades) and this account's fills (watchMyTrades), newest last. */
  private readonly tradeCache = new Map<string, Trade[]>();
  private readonly fillCache: Trade[] = [];
  /** This account's orders as the `orders` stream told them, by id, in the order first seen (watchOrders). */
  private readonly orderCache = new Map<string, Json>();
  /** Positions as last streamed, by symbol (watchPositions). */
  private readonly positionCache = new Map<string, Position>();

  override describe(): Dict {
    return this.deepExtend(super.describe(), {
      id: 'ringfence',
      name: 'ringfence',
      version: 'v1',
      pro: false,
      rateLimit: 10,
      certified: false,
      has: {
        CORS: undefined,
        spot: false,
        margin: false,
        swap: true,
        future: true,
        option: true,
        addMargin: true,
        cancelAllOrders: true,
        cancelOrder: true,
        createOrder: true,
        createReduceOnlyOrder: true,
        createStopLossOrder: true,
        createTakeProfitOrder: true,
        editOrder: true,
        fetchBalance: true,
        fetchFundingHistory: true,
        fetchFundingRate: true,
        fetchFundingRateHistory: true,
        fetchLeverageTiers: true,
        fetchMarketLeverageTiers: true,
        fetchMarkets: true,
        fetchMarkOHLCV: true,
        fetchMyTrades: true,
        fetchOHLCV: true,
        fetchOpenOrders: true,
        fetchOrder: true,
        fetchOrderBook: true,
        fetchPosition: true,
        fetchPositions: true,
        fetchTicker: true,
        fetchTrades: true,
        reduceMargin: true,
        setLeverage: true,
        setMarginMode: true,
        transfer: true,
        fetchTransfers: true,
        ws: true,
        watchMyTrades: true,
        watchOrderBook: true,
        watchOrders: true,
        watchPositions: true,
        watchTrades: true,
      },
      timeframes: { '1s': '1s', '1m': '1m', '5m': '5m', '15m': '15m', '1h': '1h' },
      urls: {
        // Point `urls.api.rest` at the venue (no path: the API prefix is the service's).
        api: { rest: 'http://127.0.0.1:8080' },
        // The venue's own documentation: docs/clients.md and docs/service.md in this repository.
        doc: 'docs/clients.md',
      },
      requiredCredentials: { apiKey: true, secret: true },
      precisionMode: functions.TICK_SIZE,
      exceptions: { exact: EXACT, broad: {} },
      options: { defaultType: 'swap', tradesLimit: 1000, ordersLimit: 1000 },
    });
  }

  // -------------------------------------------------------------------------------------------------------
  // Requests

  /** The service's signing: headers only for private routes; the path the signature covers includes the query. */
  override sign(
    path: string,
    api: string = 'public',
    method: string = 'GET',
    params: Dict = {},
    headers: Dict | undefined = undefined,
    body: Str = undefined,
  ): Dict {
    let request = API_PREFIX + this.implodeParams(path, params);
    const rest = this.omit(params, this.extractParams(path));
    const hasBody = method === 'POST' || method === 'PUT' || method === 'PATCH';
    if (hasBody) {
      body = this.json(rest);
    } else if (Object.keys(rest).length > 0) {
      request += `?${this.urlencode(rest)}`;
    }
    const out: Dict = { ...(headers ?? {}) };
    if (hasBody) out['Content-Type'] = 'application/json';
    if (api === 'private') {
      this.checkRequiredCredentials();
      const ts = Math.max(this.milliseconds(), this.lastSigned + 1);
      this.lastSigned = ts;
      out['x-rf-key'] = this.apiKey;
      out['x-rf-timestamp'] = String(ts);
      out['x-rf-signature'] = this.signature(ts, method, request, body ?? '');
    }
    return { url: this.urls.api.rest + request, method, body, headers: out };
  }

  private signature(ts: number, method: string, path: string, body: string): string {
    return createHmac('sha256', this.secret).update(`${ts}\n${method}\n${path}\n${body}`).digest('hex');
  }

  /** The service's `{code, message}` → ccxt's error class for the code (ExchangeError for an unknown one). */
  override handleErrors(
    code: number,
    _reason: string,
    _url: string,
    _method: string,
    _headers: Dict,
    body: string,
    response: unknown,
  ): undefined {
    if (code < 400) return undefined;
    const r = (response ?? {}) as Json;
    const errorCode = typeof r.code === 'string' ? r.code : undefined;
    const feedback = `${this.id} ${body}`;
    if (errorCode !== undefined)
      this.throwExactlyMatchedException(this.exceptions.exact, errorCode, feedback);
    if (code === 404) throw new BadRequest(feedback);
    throw new ExchangeError(feedback);
  }

  private pub(path: string, params: Dict = {}, method = 'GET'): Promise<unknown> {
    return this.request(path, 'public', method, params);
  }

  private priv(path: string, params: Dict = {}, method = 'GET'): Promise<unknown> {
    return this.request(path, 'private', method, params);
  }

  // -------------------------------------------------------------------------------------------------------
  // Markets

  override async fetchMarkets(params: Dict = {}): Promise<Market[]> {
    const rows = (await this.pub('markets', params)) as Json[];
    return rows.map((m) => this.parseMarket(m));
  }

  override parseMarket(m: Json): Market {
    const id = this.safeString(m, 'id') ?? this.safeString(m, 'symbol')!;
    const base = this.safeCurrencyCode(this.safeString(m, 'base'));
    const quote = this.safeCurrencyCode(this.safeString(m, 'quote'));
    const settle = this.safeCurrencyCode(this.safeString(m, 'settle'));
    const type = this.safeString(m, 'type') ?? 'swap';
    const expiry = this.safeInteger(m, 'expiry');
    const strike = this.safeString(m, 'strike');
    const optionType = this.safeString(m, 'optionType');
    let symbol = `${base}/${quote}:${settle}`;
    if (type !== 'swap' && expiry !== undefined) symbol += `-${yymmdd(expiry)}`;
    if (type === 'option' && strike !== undefined && optionType !== undefined)
      symbol += `-${strike}-${optionType === 'call' ? 'C' : 'P'}`;
    const limits = (m.limits ?? {}) as Json;
    const amount = (limits.amount ?? {}) as Json;
    const leverage = (limits.leverage ?? {}) as Json;
    return this.safeMarketStructure({
      id,
      symbol,
      base,
      quote,
      settle,
      baseId: this.safeString(m, 'base'),
      quoteId: this.safeString(m, 'quote'),
      settleId: this.safeString(m, 'settle'),
      type,
      spot: false,
      margin: false,
      swap: type === 'swap',
      future: type === 'future',
      option: type === 'option',
      active: this.safeBool(m, 'active'),
      contract: true,
      linear: this.safeBool(m, 'linear'),
      inverse: this.safeBool(m, 'inverse'),
      taker: this.safeNumber(m, 'taker'),
      maker: this.safeNumber(m, 'maker'),
      contractSize: this.safeNumber(m, 'contractSize'),
      expiry,
      expiryDatetime: this.iso8601(expiry),
      strike: this.parseNumber(strike),
      optionType,
      precision: { amount: this.safeNumber(m, 'lotSize'), price: this.safeNumber(m, 'tickSize') },
      limits: {
        leverage: { min: 1, max: this.safeNumber(leverage, 'max') },
        amount: { min: this.safeNumber(amount, 'min'), max: this.safeNumber(amount, 'max') },
        price: { min: undefined, max: undefined },
        cost: { min: undefined, max: undefined },
      },
      created: undefined,
      info: m,
    });
  }

  // -------------------------------------------------------------------------------------------------------
  // Public data

  override async fetchTicker(symbol: string, params: Dict = {}): Promise<Ticker> {
    await this.loadMarkets();
    const market = this.market(symbol);
    const t = (await this.pub('tickers/{symbol}', this.extend({ symbol: market.id }, params))) as Json;
    return this.parseTicker(t, market);
  }

  override parseTicker(t: Json, market: Market = undefined): Ticker {
    const timestamp = this.safeInteger(t, 'timestamp');
    const last = this.safeString(t, 'last');
    return this.safeTicker(
      {
        symbol: this.safeSymbol(this.safeString(t, 'symbol'), market),
        timestamp,
        datetime: this.iso8601(timestamp),
        bid: this.safeString(t, 'bid'),
        bidVolume: this.safeString(t, 'bidVolume'),
        ask: this.safeString(t, 'ask'),
        askVolume: this.safeString(t, 'askVolume'),
        last,
        close: last,
        markPrice: this.safeString(t, 'markPrice'),
        indexPrice: this.safeString(t, 'indexPrice'),
        info: t,
      },
      market,
    );
  }

  override async fetchOrderBook(
    symbol: string,
    limit: Int = undefined,
    params: Dict = {},
  ): Promise<OrderBook> {
    await this.loadMarkets();
    const market = this.market(symbol);
    const req: Dict = { symbol: market.id };
    if (limit !== undefined) req.depth = limit;
    const b = (await this.pub('orderbook/{symbol}', this.extend(req, params))) as Json;
    const timestamp = this.safeInteger(b, 'timestamp');
    const book = this.parseOrderBook(b, market.symbol, timestamp, 'bids', 'asks');
    book.nonce = this.safeInteger(b, 'seq');
    return book;
  }

  override async fetchTrades(
    symbol: string,
    since: Int = undefined,
    limit: Int = undefined,
    params: Dict = {},
  ): Promise<Trade[]> {
    await this.loadMarkets();
    const market = this.market(symbol);
    const req: Dict = { symbol: market.id };
    if (limit !== undefined) req.limit = limit;
    const rows = (await this.pub('trades/{symbol}', this.extend(req, params))) as Json[];
    return this.parseTrades(rows, market, since, limit);
  }

  override parseTrade(t: Json, market: Market = undefined): Trade {
    const timestamp = this.safeInteger(t, 'timestamp');
    const fee = t.fee as Json | undefined;
    return this.safeTrade(
      {
        id: this.safeString(t, 'id'),
        order: this.safeString(t, 'orderId'),
        timestamp,
        datetime: this.iso8601(timestamp),
        symbol: this.safeSymbol(this.safeString(t, 'symbol'), market),
        type: undefined,
        side: this.safeString(t, 'side'),
        takerOrMaker: this.safeString(t, 'takerOrMaker'),
        price: this.safeString(t, 'price'),
        amount: this.safeString(t, 'amount'),
        cost: this.safeString(t, 'cost'),
        fee:
          fee === undefined
            ? undefined
            : {
                cost: this.safeNumber(fee, 'cost'),
                currency: this.safeCurrencyCode(this.safeString(fee, 'currency')),
              },
        info: t,
      },
      market,
    );
  }

  override async fetchOHLCV(
    symbol: string,
    timeframe = '1m',
    since: Int = undefined,
    limit: Int = undefined,
    params: Dict = {},
  ): Promise<OHLCV[]> {
    await this.loadMarkets();
    const market = this.market(symbol);
    // ccxt's fetchMarkOHLCV passes `price: 'mark'`; a plain fetchOHLCV reads candles of committed trades.
    const price = this.safeString(params, 'price', 'last');
    const req: Dict = {
      symbol: market.id,
      timeframe: this.safeString(this.timeframes, timeframe, timeframe),
      price,
    };
    if (since !== undefined) req.since = since;
    if (limit !== undefined) req.limit = limit;
    const rows = (await this.pub(
      'candles/{symbol}',
      this.extend(req, this.omit(params, 'price')),
    )) as unknown[][];
    return this.parseOHLCVs(rows, market, timeframe, since, limit);
  }

  override parseOHLCV(c: unknown[], _market: Market = undefined): OHLCV {
    return [
      this.safeInteger(c, 0),
      this.safeNumber(c, 1),
      this.safeNumber(c, 2),
      this.safeNumber(c, 3),
      this.safeNumber(c, 4),
      this.safeNumber(c, 5),
    ];
  }

  override async fetchFundingRate(symbol: string, params: Dict = {}): Promise<FundingRate> {
    await this.loadMarkets();
    const market = this.market(symbol);
    const t = (await this.pub('tickers/{symbol}', this.extend({ symbol: market.id }, params))) as Json;
    const timestamp = this.safeInteger(t, 'timestamp');
    const next = this.safeInteger(t, 'nextFundingTime');
    const intervalMs = this.safeInteger(market.info, 'fundingIntervalMs');
    return {
      info: t,
      symbol: market.symbol,
      markPrice: this.safeNumber(t, 'markPrice'),
      indexPrice: this.safeNumber(t, 'indexPrice'),
      interestRate: undefined,
      estimatedSettlePrice: undefined,
      timestamp,
      datetime: this.iso8601(timestamp),
      fundingRate: this.safeNumber(t, 'fundingRate'),
      fundingTimestamp: next,
      fundingDatetime: this.iso8601(next),
      nextFundingRate: undefined,
      nextFundingTimestamp: undefined,
      nextFundingDatetime: undefined,
      previousFundingRate: undefined,
      previousFundingTimestamp: undefined,
      previousFundingDatetime: undefined,
      interval: intervalMs === undefined ? undefined : `${Math.round(intervalMs / 3_600_000)}h`,
    } as FundingRate;
  }

  override async fetchFundingRateHistory(
    symbol: Str = undefined,
    since: Int = undefined,
    limit: Int = undefined,
    params: Dict = {},
  ): Promise<FundingRateHistory[]> {
    if (symbol === undefined)
      throw new ArgumentsRequired(`${this.id} fetchFundingRateHistory() requires a symbol`);
    await this.loadMarkets();
    const market = this.market(symbol);
    const rows = (await this.pub(
      'funding-rates/{symbol}',
      this.extend({ symbol: market.id }, params),
    )) as Json[];
    const out = rows.map((r) => {
      const timestamp = this.safeInteger(r, 'timestamp');
      return {
        info: r,
        symbol: market.symbol,
        fundingRate: this.safeNumber(r, 'fundingRate'),
        timestamp,
        datetime: this.iso8601(timestamp),
      } as FundingRateHistory;
    });
    // The service answers newest first; ccxt's histories are oldest first.
    return this.filterBySymbolSinceLimit(
      this.sortBy(out, 'timestamp'),
      market.symbol,
      since,
      limit,
    ) as FundingRateHistory[];
  }

  override async fetchLeverageTiers(
    symbols: Strings = undefined,
    _params: Dict = {},
  ): Promise<LeverageTiers> {
    await this.loadMarkets();
    const out: LeverageTiers = {};
    for (const symbol of symbols ?? this.symbols) {
      const market = this.market(symbol);
      out[market.symbol] = this.parseTiers(market);
    }
    return out;
  }

  override async fetchMarketLeverageTiers(symbol: string, _params: Dict = {}): Promise<LeverageTier[]> {
    await this.loadMarkets();
    return this.parseTiers(this.market(symbol));
  }

  private parseTiers(market: MarketInterface): LeverageTier[] {
    const tiers = ((market.info as Json).tiers ?? []) as Json[];
    return tiers.map((t) => ({
      tier: this.safeInteger(t, 'tier'),
      symbol: market.symbol,
      currency: this.safeCurrencyCode(this.safeString(t, 'currency')),
      minNotional: this.safeNumber(t, 'minNotional'),
      maxNotional: this.safeNumber(t, 'maxNotional'),
      maintenanceMarginRate: this.safeNumber(t, 'maintenanceMarginRate'),
      maxLeverage: this.safeNumber(t, 'maxLeverage'),
      info: t,
    }));
  }

  // -------------------------------------------------------------------------------------------------------
  // Account

  override async fetchBalance(params: Dict = {}): Promise<Balances> {
    const b = (await this.priv('balance', params)) as Json;
    const result: Dict = { info: b };
    for (const row of (b.balances ?? []) as Json[]) {
      const code = this.safeCurrencyCode(this.safeString(row, 'asset')) ?? String(row.asset);
      const account = this.account();
      account.free = this.safeString(row, 'free');
      account.used = this.safeString(row, 'used');
      account.total = this.safeString(row, 'total');
      result[code] = account;
    }
    return this.safeBalance(result);
  }

  override async fetchPositions(symbols: Strings = undefined, params: Dict = {}): Promise<Position[]> {
    await this.loadMarkets();
    const rows = (await this.priv('positions', params)) as Json[];
    const out = rows.map((p) => this.parsePosition(p));
    return this.filterByArrayPositions(
      out,
      'symbol',
      symbols === undefined ? undefined : this.marketSymbols(symbols),
      false,
    );
  }

  override async fetchPosition(symbol: string, params: Dict = {}): Promise<Position> {
    const all = await this.fetchPositions([symbol], params);
    const found = all.find((p) => p.symbol === this.market(symbol).symbol);
    if (found === undefined) throw new BadRequest(`${this.id} no open position in ${symbol}`);
    return found;
  }

  override parsePosition(p: Json, market: Market = undefined): Position {
    const m = this.safeMarket(this.safeString(p, 'symbol'), market);
    const side = this.safeString(p, 'side');
    const notional = this.safeString(p, 'notional');
    const initialMargin = this.safeString(p, 'initialMargin');
    const maintenanceMargin = this.safeString(p, 'maintenanceMargin');
    const pct = (x: Str) =>
      x === undefined || notional === undefined || Precise.stringEq(notional, '0')
        ? undefined
        : this.parseNumber(Precise.stringDiv(x, notional));
    return this.safePosition({
      info: p,
      id: undefined,
      symbol: m.symbol,
      timestamp: undefined,
      datetime: undefined,
      lastUpdateTimestamp: undefined,
      contracts: this.safeNumber(p, 'contracts'),
      contractSize: this.safeNumber(p, 'contractSize'),
      side,
      notional: this.parseNumber(notional),
      leverage: this.safeNumber(p, 'leverage'),
      unrealizedPnl: this.safeNumber(p, 'unrealizedPnl'),
      realizedPnl: this.safeNumber(p, 'realizedPnl'),
      collateral: this.safeNumber(p, 'collateral'),
      entryPrice: this.safeNumber(p, 'entryPrice'),
      markPrice: this.safeNumber(p, 'markPrice'),
      lastPrice: undefined,
      liquidationPrice: this.safeNumber(p, 'liquidationPrice'),
      marginMode: this.safeString(p, 'marginMode'),
      hedged: false,
      maintenanceMargin: this.parseNumber(maintenanceMargin),
      maintenanceMarginPercentage: pct(maintenanceMargin),
      initialMargin: this.parseNumber(initialMargin),
      initialMarginPercentage: pct(initialMargin),
      marginRatio: this.safeNumber(p, 'marginRatio'),
      percentage: this.safeNumber(p, 'percentage'),
      stopLossPrice: undefined,
      takeProfitPrice: undefined,
    });
  }

  override async setLeverage(leverage: number, symbol: Str = undefined, params: Dict = {}): Promise<Json> {
    if (symbol === undefined) throw new ArgumentsRequired(`${this.id} setLeverage() requires a symbol`);
    await this.loadMarkets();
    const market = this.market(symbol);
    return (await this.priv(
      'leverage',
      this.extend({ symbol: market.id, leverage: this.numberToString(leverage) }, params),
      'POST',
    )) as Json;
  }

  override async setMarginMode(
    marginMode: string,
    symbol: Str = undefined,
    params: Dict = {},
  ): Promise<Json> {
    if (symbol === undefined) throw new ArgumentsRequired(`${this.id} setMarginMode() requires a symbol`);
    const mode = marginMode.toLowerCase();
    if (mode !== 'isolated' && mode !== 'cross')
      throw new BadRequest(`${this.id} setMarginMode() marginMode must be isolated or cross`);
    await this.loadMarkets();
    const market = this.market(symbol);
    return (await this.priv(
      'margin-mode',
      this.extend({ symbol: market.id, marginMode: mode }, params),
      'POST',
    )) as Json;
  }

  override addMargin(symbol: string, amount: number, params: Dict = {}): Promise<MarginModification> {
    return this.modifyMargin('add', symbol, amount, params);
  }

  override reduceMargin(symbol: string, amount: number, params: Dict = {}): Promise<MarginModification> {
    return this.modifyMargin('reduce', symbol, amount, params);
  }

  private async modifyMargin(
    type: 'add' | 'reduce',
    symbol: string,
    amount: number,
    params: Dict,
  ): Promise<MarginModification> {
    await this.loadMarkets();
    const market = this.market(symbol);
    const r = (await this.priv(
      `margin/${type}`,
      this.extend({ symbol: market.id, amount: this.numberToString(amount) }, params),
      'POST',
    )) as Json;
    const position = (r.position ?? {}) as Json;
    const timestamp = this.milliseconds();
    return {
      info: r,
      symbol: market.symbol,
      type,
      marginMode: 'isolated',
      amount: this.safeNumber(r, 'amount'),
      total: this.safeNumber(position, 'collateral'),
      code: this.safeCurrencyCode(this.safeString(r, 'code')),
      status: 'ok',
      timestamp,
      datetime: this.iso8601(timestamp),
    };
  }

  override async fetchFundingHistory(
    symbol: Str = undefined,
    since: Int = undefined,
    limit: Int = undefined,
    params: Dict = {},
  ): Promise<FundingHistory[]> {
    await this.loadMarkets();
    const rows = (await this.priv('funding-history', params)) as Json[];
    const out = rows.map((r) => {
      const m = this.safeMarket(this.safeString(r, 'symbol'));
      const timestamp = this.safeInteger(r, 'timestamp');
      const paid = this.safeString(r, 'amount') ?? '0';
      return {
        info: r,
        id: this.safeString(r, 'id'),
        symbol: m.symbol,
        code: this.safeCurrencyCode(m.settle),
        timestamp,
        datetime: this.iso8601(timestamp),
        // The service counts what was paid as positive; ccxt counts what the account received as positive.
        amount: this.parseNumber(Precise.stringNeg(paid)),
      } as FundingHistory;
    });
    const wanted = symbol === undefined ? undefined : this.market(symbol).symbol;
    return this.filterBySymbolSinceLimit(
      this.sortBy(out, 'timestamp'),
      wanted,
      since,
      limit,
    ) as FundingHistory[];
  }

  // -------------------------------------------------------------------------------------------------------
  // Transfers between shards (docs/sharding.md): a sharded venue's accounts are per shard, as a centralized
  // exchange's wallets are per product; `fromAccount` and `toAccount` are shard names, through the venue's router.

  /**
   * Moves free balance from one shard to another. `params.transferId` makes a retry safe (the same id is the same
   * transfer); without one, one is made up here. Status: `ok` (arrived), `failed` (refused by the target: the money
   * is back), `pending` (a shard was unreachable: it finishes on its own).
   */
  override async transfer(
    code: string,
    amount: number,
    fromAccount: string,
    toAccount: string,
    params: Dict = {},
  ): Promise<TransferEntry> {
    const transferId = this.safeString(params, 'transferId') ?? `ccxt-${this.uuid()}`;
    const r = (await this.priv(
      'transfers',
      {
        ...this.omit(params, 'transferId'),
        transferId,
        fromShard: fromAccount,
        toShard: toAccount,
        asset: code,
        amount: this.numberToString(amount),
      },
      'POST',
    )) as Json;
    return this.parseShardTransfer(r, this.milliseconds());
  }

  /** The account's transfers, oldest first; through a router each appears once (its source shard's record). */
  override async fetchTransfers(
    code: Str = undefined,
    since: Int = undefined,
    limit: Int = undefined,
    params: Dict = {},
  ): Promise<TransferEntry[]> {
    const rows = (await this.priv('transfers', params)) as Json[];
    const seen = new Set<string>();
    const out: TransferEntry[] = [];
    for (const r of rows) {
      // A router lists both sides of a transfer, each tagged with its shard: the source's says how it ended.
      const shard = this.safeString(r, 'shard');
      if (shard !== undefined && shard !== this.safeString(r, 'fromShard')) continue;
      const id = this.safeString(r, 'transferId') ?? '';
      if (seen.has(id)) continue;
      seen.add(id);
      out.push(this.parseShardTransfer(r, this.safeInteger(r, 'createdAt')));
    }
    const filtered = code === undefined ? out : out.filter((t) => t.currency === code);
    return this.filterBySinceLimit(this.sortBy(filtered, 'timestamp'), since, limit) as TransferEntry[];
  }

  private parseShardTransfer(r: Json, timestamp: Int): TransferEntry {
    const status = this.safeString(r, 'status');
    return {
      info: r,
      id: this.safeString(r, 'transferId'),
      timestamp,
      datetime: this.iso8601(timestamp),
      currency: this.safeCurrencyCode(this.safeString(r, 'asset')),
      amount: this.safeNumber(r, 'amount'),
      fromAccount: this.safeString(r, 'fromShard'),
      toAccount: this.safeString(r, 'toShard'),
      status:
        status === 'settled' || status === 'credited'
          ? 'ok'
          : status === 'reverted' || status === 'aborted'
            ? 'failed'
            : 'pending',
    };
  }

  // -------------------------------------------------------------------------------------------------------
  // Orders

  override async createOrder(
    symbol: string,
    type: OrderType,
    side: OrderSide,
    amount: number,
    price: Num = undefined,
    params: Dict = {},
  ): Promise<Order> {
    await this.loadMarkets();
    const market = this.market(symbol);
    const req: Dict = {
      symbol: market.id,
      side,
      type,
      amount: this.amountToPrecision(market.symbol, amount),
    };
    if (type === 'limit') {
      if (price === undefined)
        throw new ArgumentsRequired(`${this.id} createOrder() requires a price for a limit order`);
      req.price = this.priceToPrecision(market.symbol, price);
    }
    for (const k of ORDER_PARAMS) if (params[k] !== undefined) req[k] = params[k];
    // ccxt's stop-loss / take-profit params: a trigger price (number) or `{triggerPrice}`.
    for (const k of ['stopLossPrice', 'takeProfitPrice'] as const) {
      const v = params[k];
      const p = typeof v === 'object' && v !== null ? (v as Dict).triggerPrice : v;
      if (p !== undefined) req[k] = this.priceToPrecision(market.symbol, p as number);
    }
    const rest = this.omit(params, [...ORDER_PARAMS, 'stopLossPrice', 'takeProfitPrice']);
    const o = (await this.priv('orders', this.extend(req, rest), 'POST')) as Json;
    return this.parseOrder(o, market);
  }

  override async editOrder(
    id: string,
    symbol: string,
    _type: OrderType,
    _side: OrderSide,
    amount: Num = undefined,
    price: Num = undefined,
    params: Dict = {},
  ): Promise<Order> {
    await this.loadMarkets();
    const market = this.market(symbol);
    const req: Dict = { id, symbol: market.id };
    if (amount !== undefined) req.amount = this.amountToPrecision(market.symbol, amount);
    if (price !== undefined) req.price = this.priceToPrecision(market.symbol, price);
    const r = (await this.priv('orders/{id}', this.extend(req, params), 'PATCH')) as Json;
    // The amend answers the change; the order as ccxt knows it is read back while it is still open.
    if (r.status === 'open') return this.fetchOrder(id, symbol);
    return this.parseOrder(r, market);
  }

  override async cancelOrder(id: string, symbol: Str = undefined, params: Dict = {}): Promise<Order> {
    await this.loadMarkets();
    const clientOrderId = this.safeString(params, 'clientOrderId');
    const r = (
      clientOrderId === undefined
        ? await this.priv('orders/{id}', this.extend({ id }, params), 'DELETE')
        : await this.priv('orders/client/{clientOrderId}', params, 'DELETE')
    ) as Json;
    return this.parseOrder(r, symbol === undefined ? undefined : this.market(symbol));
  }

  override async cancelAllOrders(symbol: Str = undefined, params: Dict = {}): Promise<Order[]> {
    await this.loadMarkets();
    const req: Dict = {};
    if (symbol !== undefined) req.symbol = this.market(symbol).id;
    const r = (await this.priv('orders', this.extend(req, params), 'DELETE')) as Json;
    return ((r.canceled ?? []) as Json[]).map((o) => this.parseOrder(o));
  }

  /** One open order (by id, or `params.clientOrderId`); a filled or canceled one is not kept: OrderNotFound. */
  override async fetchOrder(id: string, symbol: Str = undefined, params: Dict = {}): Promise<Order> {
    await this.loadMarkets();
    const clientOrderId = this.safeString(params, 'clientOrderId');
    const o = (
      clientOrderId === undefined
        ? await this.priv('orders/{id}', this.extend({ id }, params))
        : await this.priv('orders/client/{clientOrderId}', params)
    ) as Json;
    return this.parseOrder(o, symbol === undefined ? undefined : this.market(symbol));
  }

  override async fetchOpenOrders(
    symbol: Str = undefined,
    since: Int = undefined,
    limit: Int = undefined,
    params: Dict = {},
  ): Promise<Order[]> {
    await this.loadMarkets();
    const req: Dict = {};
    const market = symbol === undefined ? undefined : this.market(symbol);
    if (market !== undefined) req.symbol = market.id;
    if (limit !== undefined) req.limit = limit;
    const rows = (await this.priv('orders', this.extend(req, params))) as Json[];
    return this.parseOrders(rows, market, since, limit);
  }

  override async fetchMyTrades(
    symbol: Str = undefined,
    since: Int = undefined,
    limit: Int = undefined,
    params: Dict = {},
  ): Promise<Trade[]> {
    await this.loadMarkets();
    const req: Dict = {};
    const market = symbol === undefined ? undefined : this.market(symbol);
    if (market !== undefined) req.symbol = market.id;
    if (limit !== undefined) req.limit = limit;
    const rows = (await this.priv('my-trades', this.extend(req, params))) as Json[];
    return this.parseTrades(rows, market, since, limit);
  }

  override parseOrder(o: Json, market: Market = undefined): Order {
    const m = this.safeMarket(this.safeString(o, 'symbol'), market);
    const timestamp = this.safeInteger(o, 'timestamp');
    const fee = o.fee as Json | undefined;
    const trades = o.trades as Json[] | undefined;
    const tif = this.safeString(o, 'timeInForce');
    return this.safeOrder(
      {
        info: o,
        id: this.safeString(o, 'id'),
        clientOrderId: this.safeString(o, 'clientOrderId'),
        timestamp,
        datetime: this.iso8601(timestamp),
        lastTradeTimestamp: undefined,
        symbol: m.symbol,
        type: this.safeString(o, 'type'),
        timeInForce: tif,
        postOnly: this.safeBool(o, 'postOnly', tif === 'PO'),
        reduceOnly: this.safeBool(o, 'reduceOnly'),
        side: this.safeString(o, 'side'),
        price: this.safeString(o, 'price'),
        triggerPrice: this.safeString(o, 'triggerPrice'),
        stopLossPrice: this.safeString(o, 'stopLossPrice'),
        takeProfitPrice: this.safeString(o, 'takeProfitPrice'),
        amount: this.safeString(o, 'amount'),
        filled: this.safeString(o, 'filled'),
        remaining: this.safeString(o, 'remaining'),
        cost: this.safeString(o, 'cost'),
        average: this.safeString(o, 'average'),
        status: this.safeString(o, 'status'),
        fee:
          fee === undefined
            ? undefined
            : {
                cost: this.safeNumber(fee, 'cost'),
                currency: this.safeCurrencyCode(this.safeString(fee, 'currency')),
              },
        // Raw: safeOrder parses them itself (with parseTrade).
        trades,
      },
      m,
    );
  }

  // -------------------------------------------------------------------------------------------------------
  // WebSocket streams (ccxt pro style): `{op: subscribe}` to the service's topics, one message per committed
  // command; private topics after a `login` signed like a request to `GET /ws`.

  /** `urls.api.ws`, else the REST URL's `/ws`. */
  private wsUrl(): string {
    const api = this.urls.api as Dict;
    return (api.ws as string | undefined) ?? `${String(api.rest).replace(/^http/, 'ws')}/ws`;
  }

  /** Markets loaded, and for a plain `ws://` venue the http agent ccxt insists on having first. */
  private async wsReady(): Promise<void> {
    await this.loadMarkets();
    if (this.wsUrl().startsWith('ws://')) await this.loadHttpProxyAgent();
  }

  private subscribe(topic: string): Promise<unknown> {
    const request = { op: 'subscribe', id: ++this.wsRequestId, args: [topic] };
    return this.watch(this.wsUrl(), topic, request, topic);
  }

  private async authenticate(): Promise<void> {
    this.checkRequiredCredentials();
    const url = this.wsUrl();
    const client = this.client(url);
    const future = client.reusableFuture('authenticated');
    if (client.subscriptions.authenticated === undefined) {
      const timestamp = Math.max(this.milliseconds(), this.lastSigned + 1);
      this.lastSigned = timestamp;
      const args = { key: this.apiKey, timestamp, signature: this.signature(timestamp, 'GET', '/ws', '') };
      void this.watch(url, 'authenticated', { op: 'login', id: ++this.wsRequestId, args }, 'authenticated');
    }
    await future;
  }

  override async watchOrderBook(
    symbol: string,
    _limit: Int = undefined,
    params: Dict = {},
  ): Promise<OrderBook> {
    await this.wsReady();
    const market = this.market(symbol);
    const book = (await this.subscribe(`orderbook.${market.id}`)) as OrderBook & { limit(): OrderBook };
    void params;
    return book.limit() as OrderBook & { limit?: number | undefined };
  }

  override async watchTrades(
    symbol: string,
    since: Int = undefined,
    limit: Int = undefined,
    _params: Dict = {},
  ): Promise<Trade[]> {
    await this.wsReady();
    const market = this.market(symbol);
    const trades = (await this.subscribe(`trades.${market.id}`)) as Trade[];
    return this.filterBySinceLimit(trades, since, limit, 'timestamp', true) as Trade[];
  }

  override async watchMyTrades(
    symbol: Str = undefined,
    since: Int = undefined,
    limit: Int = undefined,
    _params: Dict = {},
  ): Promise<Trade[]> {
    await this.wsReady();
    await this.authenticate();
    const fills = (await this.subscribe('fills')) as Trade[];
    const wanted = symbol === undefined ? undefined : this.market(symbol).symbol;
    return this.filterBySymbolSinceLimit(fills, wanted, since, limit, true) as Trade[];
  }

  /**
   * This account's orders as they change: the `orders` stream's events (accepted, filled, amended, canceled) folded
   * into ccxt orders here — filled, remaining, average and status (closed once nothing remains) — each as of its
   * latest event. An order accepted before the subscription appears from its first event on, without its size.
   */
  override async watchOrders(
    symbol: Str = undefined,
    since: Int = undefined,
    limit: Int = undefined,
    _params: Dict = {},
  ): Promise<Order[]> {
    await this.wsReady();
    await this.authenticate();
    const orders = (await this.subscribe('orders')) as Order[];
    const wanted = symbol === undefined ? undefined : this.market(symbol).symbol;
    return this.filterBySymbolSinceLimit(orders, wanted, since, limit, true) as Order[];
  }

  override async watchPositions(
    symbols: Strings = undefined,
    since: Int = undefined,
    limit: Int = undefined,
    _params: Dict = {},
  ): Promise<Position[]> {
    await this.wsReady();
    await this.authenticate();
    const positions = (await this.subscribe('positions')) as Position[];
    const wanted = symbols === undefined ? undefined : this.marketSymbols(symbols);
    return this.filterBySymbolsSinceLimit(positions, wanted, since, limit, true) as Position[];
  }

  override handleMessage(client: WsClient, message: Json): void {
    const topic = message.topic;
    if (typeof topic !== 'string') this.handleAnswer(client, message);
    else if (topic.startsWith('orderbook.')) this.handleBook(client, topic, message);
    else if (topic.startsWith('trades.')) this.handleTrades(client, topic, message);
    else if (topic === 'fills') this.handleFills(client, message);
    else if (topic === 'orders') this.handleOrders(client, message);
    else if (topic === 'positions') this.handlePositions(client, message);
  }

  /** A request's answer: a login resolves or fails the authentication; a refused subscription fails its watch. */
  private handleAnswer(client: WsClient, message: Json): void {
    const error = message.error as Json | undefined;
    if (message.op === 'login') {
      // Resolved in place, not through client.resolve (which forgets the future): every later watch that needs
      // the login finds it done.
      if (message.success === true) client.futures.authenticated?.resolve(true);
      else {
        const e = new errors.AuthenticationError(`${this.id} ${this.json(error)}`);
        client.reject(e, 'authenticated');
        delete client.subscriptions.authenticated;
      }
      return;
    }
    if (message.success === false && error !== undefined) {
      const code = String(error.code ?? '');
      const cls = (this.exceptions.exact as Dict)[code] as (new (m: string) => Error) | undefined;
      client.reject(new (cls ?? ExchangeError)(`${this.id} ${this.json(error)}`));
    }
  }

  private handleBook(client: WsClient, topic: string, message: Json): void {
    const data = (message.data ?? {}) as Json;
    const symbol = this.safeSymbol(this.safeString(data, 'symbol'));
    const seq = this.safeInteger(message, 'seq');
    const time = this.safeInteger(message, 'time');
    if (message.type === 'snapshot') {
      const book = this.orderBook({});
      book.reset(this.parseOrderBook(data, symbol, time, 'bids', 'asks'));
      this.orderbooks[symbol] = book;
    }
    const book = this.orderbooks[symbol];
    if (book === undefined) return; // a delta before the snapshot: the snapshot follows the subscription
    if (message.type !== 'snapshot') {
      for (const side of ['bids', 'asks'] as const)
        for (const [price, size] of (data[side] ?? []) as [string, string][])
          book[side].store(this.parseNumber(price), this.parseNumber(size));
    }
    book.nonce = seq;
    book.timestamp = time;
    book.datetime = this.iso8601(time);
    client.resolve(book, topic);
  }

  private handleTrades(client: WsClient, topic: string, message: Json): void {
    const rows = (message.data ?? []) as Json[];
    const parsed = this.parseTrades(rows);
    const symbol = parsed[0]?.symbol;
    if (symbol === undefined) return;
    const cache = this.tradeCache.get(symbol) ?? [];
    cache.push(...parsed);
    this.trim(cache);
    this.tradeCache.set(symbol, cache);
    client.resolve(cache, topic);
  }

  private handleFills(client: WsClient, message: Json): void {
    this.fillCache.push(...this.parseTrades((message.data ?? []) as Json[]));
    this.trim(this.fillCache);
    client.resolve(this.fillCache, 'fills');
  }

  private handleOrders(client: WsClient, message: Json): void {
    const time = this.safeInteger(message, 'time');
    for (const ev of (message.data ?? []) as Json[]) {
      const id = this.safeString(ev, 'orderId');
      if (id === undefined) continue;
      const o = this.orderCache.get(id) ?? { id, symbol: ev.symbol, filled: '0', cost: '0', status: 'open' };
      this.foldOrderEvent(o, ev, time);
      this.orderCache.delete(id); // re-inserted: the most recently changed last
      this.orderCache.set(id, o);
    }
    const max = this.safeInteger(this.options, 'ordersLimit', 1000)!;
    for (const id of this.orderCache.keys()) {
      if (this.orderCache.size <= max) break;
      this.orderCache.delete(id);
    }
    client.resolve(
      [...this.orderCache.values()].map((o) => this.parseOrder(o)),
      'orders',
    );
  }

  /** One `orders` event into the order's state (the service's fields, decimal strings, as `parseOrder` reads them). */
  private foldOrderEvent(o: Json, ev: Json, time: Int): void {
    const str = (k: string) => this.safeString(ev, k);
    switch (ev.type) {
      case 'orderAccepted':
        o.timestamp = time;
        o.side = str('side');
        o.price = str('price');
        o.amount = str('size');
        o.remaining = str('size');
        o.timeInForce = str('timeInForce');
        o.reduceOnly = ev.reduceOnly;
        o.postOnly = str('timeInForce') === 'PO';
        o.type = ev.orderType === 'market' ? 'market' : 'limit';
        break;
      case 'orderFilled': {
        const size = str('size') ?? '0';
        const m = this.safeMarket(this.safeString(o, 'symbol'));
        const value = Precise.stringMul(
          Precise.stringMul(size, str('price') ?? '0'),
          this.numberToString(m.contractSize ?? 1),
        );
        o.filled = Precise.stringAdd(this.safeString(o, 'filled') ?? '0', size);
        o.cost = Precise.stringAdd(this.safeString(o, 'cost') ?? '0', value);
        o.average = Precise.stringDiv(
          o.cost as string,
          Precise.stringMul(o.filled as string, this.numberToString(m.contractSize ?? 1)),
        );
        const left = this.safeString(o, 'remaining');
        if (left !== undefined) {
          o.remaining = Precise.stringSub(left, size);
          if (Precise.stringLe(o.remaining as string, '0')) o.status = 'closed';
        }
        break;
      }
      case 'orderAmended':
        o.price = str('price');
        o.remaining = str('size');
        // What the order's size is now: what it filled before plus what the amend left.
        o.amount = Precise.stringAdd(this.safeString(o, 'filled') ?? '0', str('size') ?? '0');
        break;
      case 'orderCanceled':
        o.remaining = str('remaining');
        o.status = 'canceled';
        o.cancelReason = str('reason');
        break;
      case 'orderTriggered':
        o.triggered = true;
        break;
    }
  }

  /** `position` and `fundingPaid` items carry the position as GET positions shows it (`view`; null once flat). */
  private handlePositions(client: WsClient, message: Json): void {
    for (const item of (message.data ?? []) as Json[]) {
      if (!('view' in item)) continue;
      const view = item.view as Json | null;
      const symbol = this.safeSymbol(this.safeString(item, 'symbol'));
      if (view === null) this.positionCache.delete(symbol);
      else this.positionCache.set(symbol, this.parsePosition(view));
    }
    client.resolve([...this.positionCache.values()], 'positions');
  }

  private trim(cache: Trade[]): void {
    const max = this.safeInteger(this.options, 'tradesLimit', 1000)!;
    if (cache.length > max) cache.splice(0, cache.length - max);
  }
}

export default ringfence;
