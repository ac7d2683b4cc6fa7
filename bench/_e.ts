import { generate } from './matching-book.ts';
import { prepare, freshEngine, runEngine } from './matching.ts';
const { stream } = generate(1_000_000, 1000, 1);
const p = prepare(stream, 1000);
for (let r = 0; r < 3; r++) {
  const e = freshEngine(1000);
  const t0 = process.hrtime.bigint();
  runEngine(e, stream, p, null);
  console.log('engine alone', Math.round(1e6 / (Number(process.hrtime.bigint() - t0) / 1e9)));
}
