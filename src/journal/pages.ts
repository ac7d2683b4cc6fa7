/**
 * Packed pages: how a store hands recovery a page of records as ONE value its database builds (SQLite and
 * PostgreSQL both concatenate blobs in a query), instead of a row, an array and a buffer per record. Each record is
 * a 24-byte header — seq and time as int64, checksum and the command's length as uint32, all big-endian — then its
 * command bytes. A record the header cannot carry exactly (one with a state hash, a field out of range or of
 * another type) is marked by a length of 0xffffffff and no bytes; the store reads those whole. `unpackPage` splits
 * the value into a RecordPage's columns.
 */
import type { JournalRecord, RecordPage } from './store.ts';

export const PACKED_HEADER = 24;
/** The length that marks a record to read whole. */
export const NOT_PACKED = 0xffffffff;

/**
 * Splits a packed page into columns, listing the records to read whole (their indices); null if it is not exactly
 * `count` records in increasing seq order that end where the value ends (never expected: the store then reads the
 * page the plain way).
 */
export function unpackPage(count: number, blob: Uint8Array): { page: RecordPage; whole: number[] } | null {
  const dv = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const n = blob.byteLength;
  const seqs = new Float64Array(count);
  const times = new Float64Array(count);
  const checksums = new Float64Array(count);
  const starts = new Uint32Array(count);
  const ends = new Uint32Array(count);
  const whole: number[] = [];
  let p = 0;
  let prev = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < count; i++) {
    if (p + PACKED_HEADER > n) return null;
    const seq = dv.getInt32(p) * 4294967296 + dv.getUint32(p + 4);
    if (!(seq > prev)) return null;
    prev = seq;
    seqs[i] = seq;
    const len = dv.getUint32(p + 20);
    p += PACKED_HEADER;
    if (len === NOT_PACKED) {
      whole.push(i);
      continue;
    }
    times[i] = dv.getInt32(p - 16) * 4294967296 + dv.getUint32(p - 12);
    checksums[i] = dv.getUint32(p - 8);
    starts[i] = p;
    p += len;
    ends[i] = p;
  }
  if (p !== n) return null;
  return { page: { count, seqs, times, checksums, starts, ends, data: blob, whole: new Map() }, whole };
}

/** A page of records all given whole. */
export function plainPage(records: readonly JournalRecord[]): RecordPage {
  const n = records.length;
  const seqs = new Float64Array(n);
  const whole = new Map<number, JournalRecord>();
  for (let i = 0; i < n; i++) {
    seqs[i] = records[i]!.seq;
    whole.set(i, records[i]!);
  }
  const none = new Float64Array(n);
  return { count: n, seqs, times: none, checksums: none, starts: none, ends: none, data: EMPTY, whole };
}
const EMPTY = new Uint8Array(0);

/** Puts the records read whole into their places in an unpacked page; false if they are not the ones it marked. */
export function fillWhole(
  page: RecordPage,
  whole: readonly number[],
  records: readonly JournalRecord[],
): boolean {
  if (records.length !== whole.length) return false;
  const map = page.whole as Map<number, JournalRecord>;
  for (let k = 0; k < records.length; k++) {
    if (records[k]!.seq !== page.seqs[whole[k]!]) return false;
    map.set(whole[k]!, records[k]!);
  }
  return true;
}
