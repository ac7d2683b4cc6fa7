/** `ringfence simulate` through the CLI: JSON summary, the report file, and bad input → exit 2 with one line. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runCli } from '../cli/run.ts';

const cli = (args: string[]) => runCli(args);

const dir = mkdtempSync(join(tmpdir(), 'ringfence-sim-'));
const small = ['--traders', '150', '--bars', '800', '--workers', '1'];

describe('ringfence simulate', () => {
  test('--json prints the summary; the report is one self-contained file crediting the data and the charts', async () => {
    const report = join(dir, 'r.html');
    const r = await cli(['simulate', ...small, '--policies', 'isolated,cross', '--json', '--report', report]);
    assert.equal(r.code, 0, r.err);
    const s = JSON.parse(r.out);
    assert.deepEqual(
      s.policies.map((p: { id: string }) => p.id),
      ['isolated', 'cross'],
    );
    assert.equal(s.traders, 150);
    assert.equal(
      s.data.credit,
      'Bitstamp BTC/USD 1-minute data via ff137/bitstamp_btcusd_minute_data (MIT License)',
    );
    assert.deepEqual(
      s.markets.map((m: { symbol: string; source: string }) => `${m.symbol}:${m.source}`),
      ['BTCUSDT:data', 'ETHUSDT:synthetic', 'SOLUSDT:synthetic'],
    );
    for (const k of [
      'liquidations',
      'collateralLost',
      'wipedOut',
      'contagion',
      'insuranceFund',
      'adl',
      'badDebt',
      'conservation',
    ])
      assert.ok(k in s.policies[0], k);
    assert.match(r.err, /^report: /m);
    const html = readFileSync(report, 'utf8');
    assert.match(html, /Bitstamp BTC\/USD 1-minute data via ff137\/bitstamp_btcusd_minute_data/);
    assert.match(html, /TradingView Lightweight Charts™ v5\.2\.1/); // the library's license header, inlined
    assert.match(html, /Licensed under Apache License 2\.0/);
    assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href=/); // nothing fetched
  });

  test('the table, and a plain timestamp,price file', async () => {
    const csv = join(dir, 'p.csv');
    const rows = Array.from(
      { length: 400 },
      (_, i) => `${1736208060 + 60 * i},${(95000 + 300 * Math.sin(i / 20)).toFixed(1)}`,
    );
    writeFileSync(csv, `timestamp,price\n${rows.join('\n')}\n`);
    const r = await cli(['simulate', ...small, '--data', csv, '--policies', 'isolated', '--no-report']);
    assert.equal(r.code, 0, r.err);
    assert.match(
      r.out,
      /^policy +liquidations +liq\. notional +collateral lost +wiped out +contagion +ins\. fund P&L +ADL +bad debt +ledger$/m,
    );
    assert.match(r.out, /^isolated +[\d,]+ .* ok$/m);
    assert.doesNotMatch(r.out, /report:/);
  });

  test('hybrid:<share> runs the hybrid policy with that opt-in share; a line under the table tells its silos', {
    timeout: 120_000,
  }, async () => {
    const r = await cli(['simulate', ...small, '--policies', 'isolated,hybrid:1', '--no-report']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^hybrid:1 +[\d,]+ .* ok$/m);
    assert.match(
      r.out,
      /^hybrid:1: [\d,]+ traders in netted silos \([\d,]+ legs; netted initial margin \d+% of standalone at entry\); [\d,]+ silo liquidations closed [\d,]+ legs that alone were healthy$/m,
    );
    assert.match(
      r.out,
      /^ {2}the same [\d,]+ traders: isolated [\d,]+ liquidations, [\d,]+ lost; hybrid:1 [\d,]+ liquidations, [\d,]+ lost$/m,
    );
    const j = await cli(['simulate', ...small, '--policies', 'hybrid', '--json', '--no-report']);
    const [p] = JSON.parse(j.out).policies;
    assert.deepEqual(p.settings.nettedSilos, {
      share: 0.5,
      floor: '0.25',
      correlations: [
        { a: 'BTC', b: 'ETH', rho: '0.80' },
        { a: 'BTC', b: 'SOL', rho: '0.70' },
        { a: 'ETH', b: 'SOL', rho: '0.56' },
      ],
    });
    const bad = await cli(['simulate', '--policies', 'hybrid:1.5', '--no-report']);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /unknown policy "hybrid:1\.5" .*hybrid:<share in \[0, 1\]>/);
  });

  test('bad input exits 2 with one line', async () => {
    const csv = join(dir, 'bad.csv');
    writeFileSync(csv, 'timestamp,price\n1736208060,100\n1736208120,1O1\n');
    let r = await cli(['simulate', '--data', csv, '--no-report']);
    assert.equal(r.code, 2);
    assert.equal(
      r.err,
      `ringfence simulate: ${csv}:3: price: "1O1" is not a plain decimal (digits, optional '.', no exponent)\n`,
    );
    r = await cli(['simulate', '--policies', 'isolated,yolo', '--no-report']);
    assert.equal(r.code, 2);
    assert.match(r.err, /^ringfence simulate: unknown policy "yolo" \(known: isolated, cross, /);
    r = await cli(['simulate', '--traders', 'many', '--no-report']);
    assert.equal(r.code, 2);
    assert.match(r.err, /^ringfence simulate: --traders: expected an integer/);
    r = await cli(['simulate', '--data', join(dir, 'missing.csv'), '--no-report']);
    assert.equal(r.code, 2);
    assert.match(r.err, /cannot read .*missing\.csv \(ENOENT\)/);
  });
});
