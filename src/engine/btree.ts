/**
 * The B+ tree the engine's price indexes keep their entries in (liquidation-index.ts, trigger-index.ts,
 * holder-index.ts): sorted-btree's BTree keyed by bigint, typed with the part of its API they use.
 */
import BTreeModule from 'sorted-btree';

export interface BigTree<V> {
  set(key: bigint, value: V): boolean;
  delete(key: bigint): boolean;
  maxKey(): bigint | undefined;
  minKey(): bigint | undefined;
  forRange(low: bigint, high: bigint, includeHigh: boolean, onFound: (k: bigint, v: V) => void): number;
  /** Lazy iterators from a key up (`entries`) or down (`entriesReversed`, the key itself included). */
  entries(lowestKey?: bigint): IterableIterator<[bigint, V]>;
  entriesReversed(highestKey?: bigint): IterableIterator<[bigint, V]>;
}

type TreeCtor = new (entries: undefined, compare: (a: bigint, b: bigint) => number) => BigTree<unknown>;
// sorted-btree is CommonJS: under Node's ESM loader the default import is the module object, under tsx the class.
const mod = BTreeModule as unknown as { default?: TreeCtor };
const BTree: TreeCtor = mod.default ?? (BTreeModule as unknown as TreeCtor);
const cmp = (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0);

/** An empty tree in ascending key order. */
export function bigTree<V>(): BigTree<V> {
  return new BTree(undefined, cmp) as BigTree<V>;
}
