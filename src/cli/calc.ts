/**
 * `ringfence calc`: reads a JSON scenario from stdin or --file, prints a table or (--json) the result object.
 * Bad input exits 2 with one line naming the field; never a stack trace.
 */
import { readFileSync } from 'node:fs';
import { InputError } from '../core/fixed.ts';
import { calc, type PositionResult, type ScenarioResult, type SiloResult } from '../core/scenario.ts';
import { renderTable } from './table.ts';

export interface CalcOptions {
  file?: string;
  json?: boolean;
}

export interface CliIO {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  readStdin: () => string;
}

/** Hard cap on scenario size: a what-if never needs megabytes. */
const MAX_INPUT_BYTES = 1 << 20;

export function runCalc(opts: CalcOptions, io: CliIO): number {
  let text: string;
  try {
    text = opts.file ? readFileSync(opts.file, 'utf8') : io.readStdin();
  } catch (e) {
    io.stderr(
      `ringfence calc: input: cannot read ${opts.file ?? 'stdin'} (${(e as NodeJS.ErrnoException).code ?? 'error'})\n`,
    );
    return 2;
  }
  if (text.length > MAX_INPUT_BYTES) {
    io.stderr(`ringfence calc: input: larger than ${MAX_INPUT_BYTES} bytes\n`);
    return 2;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    io.stderr(`ringfence calc: input: malformed JSON (${(e as Error).message.split('\n')[0]})\n`);
    return 2;
  }
  let result: ScenarioResult;
  try {
    result = calc(json);
  } catch (e) {
    if (e instanceof InputError) {
      io.stderr(`ringfence calc: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  io.stdout(opts.json ? `${JSON.stringify(result, null, 2)}\n` : formatResult(result));
  return 0;
}

const isOption = (p: PositionResult) => p.kind === 'option';

export function formatResult(r: ScenarioResult): string {
  let out = '';
  if (r.positions.length > 0) {
    const asset = r.positions[0]!.settleAsset;
    const one = r.positions.every((p) => p.settleAsset === asset);
    out += `venue ${r.venue}, ${r.mode} margin, amounts in ${one ? asset : "each position's settle asset"}\n`;
    out += renderTable(r.positions.filter((p) => !isOption(p)).map(positionRow));
    out += renderTable(r.positions.filter(isOption).map(optionRow));
  }
  if (r.bucket) {
    const b = r.bucket;
    out += `cross bucket: wallet ${b.walletBalance}, margin balance ${b.marginBalance}, IM ${b.initialMargin}, MM ${b.maintenanceMargin}, max withdrawable ${b.maxWithdrawable}\n`;
  }
  for (const p of r.positions) {
    if (p.leverageChange) {
      const c = p.leverageChange;
      out += `${p.symbol} at ${c.targetLeverage}x: collateral ${c.collateral} (${c.marginDelta.startsWith('-') ? '' : '+'}${c.marginDelta}), liquidation ${c.liquidationPrice ?? '-'}\n`;
    }
  }
  for (const s of r.silos ?? []) out += formatSilo(r.venue, s);
  for (const [underlying, g] of Object.entries(r.greeks ?? {}))
    out += `greeks ${underlying} (options): delta ${g.delta}, gamma ${g.gamma}, vega ${g.vega} per 1.00 vol, theta ${g.theta} per year\n`;
  return out;
}

/** Digits enough to read: a Greek or price to 6 significant decimals of its WAD string. */
const short = (s: string | undefined) => (s === undefined ? '-' : String(Number(Number(s).toPrecision(6))));

/** An option: its pricing and Greeks next to its requirement (`liq`, `lev` mean nothing for an option). */
function optionRow(p: PositionResult): Record<string, string> {
  return {
    option: p.symbol,
    side: p.side,
    size: p.size,
    asset: p.settleAsset,
    entry: p.entryPrice,
    mark: short(p.markPrice),
    iv: short(p.iv),
    delta: short(p.delta),
    gamma: short(p.gamma),
    vega: short(p.vega),
    theta: short(p.theta),
    uPnL: p.unrealizedPnl,
    IM: p.initialMargin,
    MM: p.maintenanceMargin,
    status: p.liquidatable ? 'LIQUIDATE' : 'ok',
  };
}

function positionRow(p: PositionResult): Record<string, string> {
  return {
    symbol: p.symbol,
    side: p.side,
    size: p.size,
    entry: p.entryPrice,
    mark: p.markPrice,
    lev: p.leverage === null ? '-' : `${p.leverage}x`,
    notional: p.notional,
    uPnL: p.unrealizedPnl,
    IM: p.initialMargin,
    MM: p.maintenanceMargin,
    'MM/MB': p.marginRatio === null ? '-' : `${(Number(p.marginRatio) * 100).toFixed(2)}%`,
    status: p.liquidatable ? 'LIQUIDATE' : 'ok',
    liq: p.liquidationPrice ?? '-',
    bankrupt: p.bankruptcyPrice ?? '-',
    removable: p.maxRemovableMargin,
  };
}

/** A silo: its figures on one line (the model's next to the standalone sums), its legs, its liquidation prices. */
function formatSilo(venueId: string, s: SiloResult): string {
  const ratio = s.marginRatio === null ? '-' : `${(Number(s.marginRatio) * 100).toFixed(2)}%`;
  let out = `\nsilo ${s.id} (${s.riskModel}), venue ${venueId}, amounts in ${s.settleAsset}: collateral ${s.collateral}, equity ${s.equity}, `;
  out += `IM ${s.initialMargin} (standalone ${s.standaloneInitialMargin}), MM ${s.maintenanceMargin} (standalone ${s.standaloneMaintenanceMargin}), `;
  out += `MM/equity ${ratio}, ${s.liquidatable ? 'LIQUIDATE' : 'ok'}, removable ${s.maxRemovableMargin}\n`;
  out += renderTable(
    s.legs
      .filter((p) => !isOption(p))
      .map((p) => {
        const { 'MM/MB': _ratio, status: _status, removable: _removable, ...row } = positionRow(p);
        return row;
      }),
  );
  out += renderTable(
    s.legs.filter(isOption).map((p) => {
      const { status: _status, ...row } = optionRow(p);
      return row;
    }),
  );
  const prices = Object.entries(s.liquidationPrices).map(([symbol, p]) => `${symbol} ${p ?? '-'}`);
  const held = s.legs.some(isOption) ? ', option legs held' : '';
  if (prices.length > 0) out += `silo liquidated at (each market alone${held}): ${prices.join(', ')}\n`;
  // A silo of perpetuals under a per-leg model prints as before; options or a strategy model add their risk.
  return s.legs.some(isOption) || !PER_LEG_MODELS.includes(s.riskModel) ? out + formatStrategy(s) : out;
}

const PER_LEG_MODELS: readonly string[] = ['standalone', 'netted'];

/** A break-even for reading (the JSON keeps it exact): to the cent, half up. */
function toCents(price: string): string {
  const [int, frac = ''] = price.split('.');
  if (frac.length <= 2) return price;
  const cents = BigInt(int + frac.slice(0, 2)) + (frac.charCodeAt(2) >= 53 ? 1n : 0n);
  const t = cents.toString().padStart(3, '0');
  return `${t.slice(0, -2)}.${t.slice(-2)}`.replace(/\.?0+$/, '');
}

/** A silo's strategy risk: the requirement under each model, what expiry can do to it, its Greeks and payoff. */
function formatStrategy(s: SiloResult): string {
  const rows = Object.entries(s.models).map(([model, m]) => ({
    model,
    IM: m.initialMargin,
    MM: m.maintenanceMargin,
    silo: model === s.riskModel ? '<- this silo' : '',
  }));
  let out = "requirement by model (against collateral + every leg's PnL at its mark):\n";
  out += renderTable(rows);
  out += `strategy ${s.strategy ?? '-'}; max loss ${s.maxLoss ?? 'unbounded'}, max gain ${s.maxGain ?? 'unbounded'}, `;
  const evens = s.breakevens.map(toCents);
  out += `break-evens ${evens.length > 0 ? evens.join(', ') : '-'}${worstText(s.worst)}\n`;
  for (const [underlying, g] of Object.entries(s.greeks))
    out += `greeks ${underlying}: delta ${g.delta}, gamma ${g.gamma}, vega ${g.vega} per 1.00 vol, theta ${g.theta} per year\n`;
  for (const p of s.payoff) {
    out += `payoff at expiry, ${p.underlying}${p.expiry === null ? '' : ` ${p.expiry}`}:\n`;
    out += renderTable(p.points.map((x) => ({ price: x.price, pnl: x.pnl })));
  }
  return out;
}

/** Where the silo's model found its binding figure (nothing for the per-leg models). */
function worstText(w: SiloResult['worst']): string {
  switch (w.kind) {
    case 'price':
      return `; worst at expiry: ${w.underlying} at ${w.price}`;
    case 'infinity':
      return `; worst at expiry: ${w.underlying} rising without bound`;
    case 'scenario': {
      const move = `${Number(w.move) >= 0 ? '+' : ''}${(Number(w.move) * 100).toFixed(2)}%`;
      return `; worst scenario: ${w.underlying} ${move}, vol ${w.vol}${w.extended ? ' (extended, weighted)' : ''}`;
    }
    case 'standalone':
      return '';
  }
}
