/**
 * The documentation is produced by the current code, wherever a page now lives (README.md and docs/**.md): every
 * `echo '…' | npx ringfence calc` example is run, and the output block printed after it must match character for
 * character; figures the prose of docs/calc.md quotes from a `--json` example are read back from the result; the
 * preset table names every preset. The README stays a newcomer's page: its Quickstart is the two commands, each
 * example it shows is a copy of one in the reference, its benchmark table is the reference's, and every relative
 * link in the docs reaches a file (and heading) that exists.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PRESETS } from '../../src/core/presets.ts';
import { runCli } from './run.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (rel: string) => readFileSync(join(root, rel), 'utf8');

/** README.md and every Markdown page under docs/, as repository-relative paths. */
function pages(): string[] {
  const under = (dir: string): string[] =>
    readdirSync(join(root, dir))
      .sort()
      .flatMap((name) => {
        const rel = posix.join(dir, name);
        if (statSync(join(root, rel)).isDirectory()) return under(rel);
        return rel.endsWith('.md') ? [rel] : [];
      });
  return ['README.md', ...under('docs')];
}

interface Block {
  lang: string;
  body: string;
  at: number;
  end: number;
}

function fencedBlocks(text: string): Block[] {
  return [...text.matchAll(/```(\w*)\n([\s\S]*?)```/g)].map((m) => ({
    lang: m[1]!,
    body: m[2]!,
    at: m.index!,
    end: m.index! + m[0].length,
  }));
}

/** The `## heading` section of a page, up to the next `## `. */
function section(text: string, heading: string): string {
  const start = text.indexOf(`\n## ${heading}`);
  assert.ok(start >= 0, `section "## ${heading}" is there`);
  const end = text.indexOf('\n## ', start + 1);
  return text.slice(start, end < 0 ? undefined : end);
}

interface Example {
  page: string;
  input: string;
  args: string[];
  /** The fenced block right after the command, if it is a plain (output) block. */
  output: string | null;
}

/** Each ```sh block that pipes a quoted JSON scenario into `npx ringfence calc`, with the block after it. */
function calcExamples(page: string, text: string): Example[] {
  const blocks = fencedBlocks(text);
  const out: Example[] = [];
  blocks.forEach((b, i) => {
    const cmd = /echo '([\s\S]*?)'\s*\\?\s*\|\s*npx ringfence calc([^\n]*)/.exec(b.body);
    if (b.lang !== 'sh' || !cmd) return;
    const next = blocks[i + 1];
    const adjacent = next && next.lang === '' && text.slice(b.end, next.at).trim() === '';
    out.push({
      page,
      input: cmd[1]!,
      args: cmd[2]!.trim().split(/\s+/).filter(Boolean),
      output: adjacent ? next.body : null,
    });
  });
  return out;
}

const run = (e: Example) => runCli(['calc', ...e.args], e.input);

const all = pages().flatMap((page) => calcExamples(page, read(page)));
const calcPage = read('docs/calc.md');

describe('every calc example in README.md and docs/ is what calc prints', () => {
  test('README shows one calc example with its output; docs/calc.md has the six (bybit, binance cross, hyperliquid, collateral in BTC, the two 1x longs)', {
    timeout: 10_000,
  }, () => {
    const inReadme = all.filter((e) => e.page === 'README.md');
    assert.ok(inReadme.length >= 1 && inReadme.every((e) => e.output !== null));
    const inCalc = all.filter((e) => e.page === 'docs/calc.md');
    assert.equal(inCalc.length, 6);
    assert.equal(inCalc.filter((e) => e.output !== null).length, 4);
  });

  all.forEach((e, i) => {
    const venue = /"venue":"([^"]+)"/.exec(e.input)?.[1] ?? 'ringfence';
    const args = e.args.length ? ` ${e.args.join(' ')}` : '';
    test(`${e.page} example ${i + 1} (${venue}${args}) runs and prints the block shown`, {
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
    const quoted = /The BTC long's cross liquidation price is ([\d,.]+\d)/.exec(calcPage)?.[1];
    assert.ok(quoted, 'the sentence is there');
    const cross = all.find((e) => e.page === 'docs/calc.md' && e.args.includes('--json'));
    assert.ok(cross);
    const r = await run(cross);
    assert.equal(JSON.parse(r.out).positions[0].liquidationPrice, quoted.replaceAll(',', ''));
  });

  test('the collateral example: the two liquidation prices its prose quotes (in USDT, in BTC) are calc’s', {
    timeout: 10_000,
  }, async () => {
    const m =
      /Held in USDT, 399 would liquidate the long at ([\d,.]+\d);\s+held in BTC it liquidates at ([\d,.]+\d)/.exec(
        calcPage,
      );
    assert.ok(m, 'the sentence is there');
    const ex = all.find((e) => e.page === 'docs/calc.md' && e.input.includes('"collateral"'));
    assert.ok(ex);
    const p = JSON.parse((await run(ex)).out).positions[0];
    assert.deepEqual(
      [p.liquidationPriceIfSettle, p.liquidationPrice],
      [m[1]!.replaceAll(',', ''), m[2]!.replaceAll(',', '')],
    );
  });

  test('the "1x long" sentence: none on binance-usdm, and on ringfence the price it quotes', {
    timeout: 10_000,
  }, async () => {
    const quoted = /same 1x\s+long [\s\S]*? liquidates at ([\d.]+\d)/.exec(calcPage)?.[1];
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

  test('the preset table in docs/calc.md names every preset', { timeout: 10_000 }, () => {
    const table = section(calcPage, 'Venue presets');
    for (const id of Object.keys(PRESETS)) assert.match(table, new RegExp(`\\n\\| \`${id}\``), id);
  });
});

describe("README is a newcomer's page over the reference in docs/", () => {
  const readme = read('README.md');

  test('the Quickstart comes first and is exactly `npm ci && npm start` and `npm test`', {
    timeout: 10_000,
  }, () => {
    assert.ok(
      readme.indexOf('\n## Quickstart') === readme.indexOf('\n## '),
      'Quickstart is the first section',
    );
    const block = fencedBlocks(section(readme, 'Quickstart'))[0];
    assert.ok(block);
    const commands = block.body
      .trim()
      .split('\n')
      .map((line) => line.replace(/#.*$/, '').trim());
    assert.deepEqual(commands, ['npm ci && npm start', 'npm test']);
  });

  test('each example the README shows is a copy of one in docs/ (so the two cannot drift apart)', {
    timeout: 10_000,
  }, () => {
    const reference = pages()
      .filter((p) => p !== 'README.md')
      .map(read)
      .join('\n');
    const quickstart = fencedBlocks(section(readme, 'Quickstart'))[0]!.body;
    const shown = fencedBlocks(readme).filter((b) => b.body !== quickstart && b.lang !== 'text');
    assert.ok(shown.length >= 4, 'calc, simulate, serve and journal verify each show an example');
    for (const b of shown)
      assert.ok(reference.includes(`\`\`\`${b.lang}\n${b.body}\`\`\``), b.body.slice(0, 80));
  });

  test("the README's benchmark table is docs/benchmarks.md's, figure for figure", { timeout: 10_000 }, () => {
    const table = (text: string) =>
      text
        .split('\n')
        .filter((line) => line.startsWith('|'))
        .join('\n');
    const inReadme = table(section(readme, 'Benchmarks'));
    assert.match(inReadme, /^\| `matching` \|/m);
    assert.equal(inReadme, table(read('docs/benchmarks.md')));
  });
});

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens. */
function anchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\p{M}\p{Pc}\- ]/gu, '')
    .replaceAll(' ', '-');
}

function anchorsOf(text: string): Set<string> {
  const outside = text.replace(/```[\s\S]*?```/g, '');
  return new Set([...outside.matchAll(/^#{1,6} (.+)$/gm)].map((m) => anchor(m[1]!)));
}

describe('every relative link in README.md and docs/ resolves', () => {
  for (const page of pages()) {
    test(`${page}: each relative link names a file (and heading) that exists`, { timeout: 10_000 }, () => {
      const text = read(page).replace(/```[\s\S]*?```/g, '');
      const links = [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
      for (const link of links.filter((l) => !/^[a-z][a-z0-9+.-]*:/i.test(l))) {
        const [path, hash] = link.split('#') as [string, string | undefined];
        const target = path === '' ? page : posix.normalize(posix.join(posix.dirname(page), path));
        assert.ok(existsSync(join(root, target)), `${page}: ${link} → ${target} does not exist`);
        if (hash !== undefined && target.endsWith('.md')) {
          assert.ok(anchorsOf(read(target)).has(hash), `${page}: ${link}: no heading #${hash} in ${target}`);
        }
      }
    });
  }
});
