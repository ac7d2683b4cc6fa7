/**
 * README's `ringfence calc` section is produced by the current code: every `echo '…' | npx ringfence calc` example
 * is run, and the output block printed after it must match character for character; figures the prose quotes
 * from a `--json` example are read back from the result; the preset table names every preset.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { PRESETS } from '../../src/core/presets.ts';
import { runCli } from './run.ts';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const start = readme.indexOf('## `ringfence calc`');
const end = readme.indexOf('\n## ', start + 1);
const section = readme.slice(start, end);

interface Example {
  input: string;
  args: string[];
  /** The fenced block right after the command, if it is a plain (output) block. */
  output: string | null;
}

/** Each ```sh block that pipes a quoted JSON scenario into `npx ringfence calc`, with the block after it. */
function examples(): Example[] {
  const blocks = [...section.matchAll(/```(\w*)\n([\s\S]*?)```/g)].map((m) => ({
    lang: m[1]!,
    body: m[2]!,
    at: m.index!,
    end: m.index! + m[0].length,
  }));
  const out: Example[] = [];
  blocks.forEach((b, i) => {
    const cmd = /echo '([\s\S]*?)'\s*\\?\s*\|\s*npx ringfence calc([^\n]*)/.exec(b.body);
    if (b.lang !== 'sh' || !cmd) return;
    const next = blocks[i + 1];
    const adjacent = next && next.lang === '' && section.slice(b.end, next.at).trim() === '';
    out.push({
      input: cmd[1]!,
      args: cmd[2]!.trim().split(/\s+/).filter(Boolean),
      output: adjacent ? next.body : null,
    });
  });
  return out;
}

const run = (e: Example) => runCli(['calc', ...e.args], e.input);

describe("README's calc examples are what calc prints", () => {
  const all = examples();

  test('the section has its examples (bybit, binance cross, hyperliquid, the two 1x longs)', {
    timeout: 10_000,
  }, () => {
    assert.equal(all.length, 5);
    assert.equal(all.filter((e) => e.output !== null).length, 4);
  });

  all.forEach((e, i) => {
    const venue = /"venue":"([^"]+)"/.exec(e.input)?.[1] ?? 'ringfence';
    test(`example ${i + 1} (${venue}${e.args.length ? ` ${e.args.join(' ')}` : ''}) runs and prints the block shown`, {
      timeout: 10_000,
    }, async () => {
      const r = await run(e);
      assert.equal(r.code, 0, r.err);
      if (e.output !== null) assert.equal(r.out, e.output);
    });
  });

  test("the cross example's quoted BTC liquidation price (51,135.7) is calc's", {
    timeout: 10_000,
  }, async () => {
    const quoted = /The BTC long's cross liquidation price is ([\d,.]+\d)/.exec(section)?.[1];
    assert.ok(quoted, 'the sentence is there');
    const cross = all.find((e) => e.args.includes('--json'));
    assert.ok(cross);
    const r = await run(cross);
    assert.equal(JSON.parse(r.out).positions[0].liquidationPrice, quoted.replaceAll(',', ''));
  });

  test('the "1x long" sentence: none on binance-usdm, and on ringfence the price it quotes', {
    timeout: 10_000,
  }, async () => {
    const quoted = /same 1x\s+long [\s\S]*? liquidates at ([\d.]+\d)/.exec(section)?.[1];
    assert.ok(quoted, 'the sentence is there');
    const oneX = (venue: string) =>
      runCli(
        ['calc', '--json'],
        JSON.stringify({
          venue,
          positions: [{ symbol: 'BTCUSDT', side: 'long', size: '1', entryPrice: '20000', leverage: '1' }],
        }),
      );
    assert.equal(JSON.parse((await oneX('binance-usdm')).out).positions[0].liquidationPrice, null);
    assert.equal(JSON.parse((await oneX('ringfence')).out).positions[0].liquidationPrice, quoted);
  });

  test('the preset table names every preset', { timeout: 10_000 }, () => {
    const table = section.slice(section.indexOf('### Venue presets'));
    for (const id of Object.keys(PRESETS)) assert.match(table, new RegExp(`\\n\\| \`${id}\``), id);
  });
});
