/**
 * Record encoding: commands as self-contained msgpack (no shared record structures, so every record decodes on
 * its own, in any order, by any later version), and a CRC32 over seq + payload that catches torn and corrupted
 * records before they reach the engine.
 *
 * msgpack keeps what JSON would lose: key order, `undefined`, numbers vs strings, and bigints (as int64). Numbers
 * past 32 bits (times) are written as float64, so they decode as the same number.
 */
import * as zlib from 'node:zlib';
import { Packr, Unpackr } from 'msgpackr';
import type { Command } from '../engine/types.ts';
import type { JournalRecord, SnapshotRecord } from './store.ts';

const packr = new Packr({ useRecords: false, int64AsType: 'bigint' });
/** A separate Unpackr: decoding through the Packr instance measured ~40% slower. */
const unpackr = new Unpackr({ useRecords: false, int64AsType: 'bigint', mapsAsObjects: true });

/** msgpack bytes of a command; throws for what msgpack cannot hold exactly (e.g. a bigint beyond 64 bits). */
export function encodeCommand(cmd: Command): Uint8Array {
  return packr.pack(cmd);
}

/** The command in `bytes`; throws if they are not msgpack of an object with a string `type` and a numeric `time`. */
export function decodeCommand(bytes: Uint8Array): Command {
  return asCommand(unpackr.unpack(bytes) as unknown);
}

/** Reused for every ranged decode (msgpackr reads it at once, keeps nothing). */
const range = { start: 0, end: 0 };
/**
 * decodeCommandAt copies a short command here first: msgpackr reads the strings of a source shorter than 140 bytes
 * in JS, and calls its native extractor otherwise — for a ~120-byte command that call costs more than the copy
 * (10–25% of a decode, measured). Its own Unpackr copies binary values out (a view would alias this buffer).
 */
const SCRATCH = 139;
const scratch = Buffer.alloc(SCRATCH);
/** Buffer's native copy, which takes any Uint8Array as its source. */
const copyBytes = Buffer.prototype.copy as (
  this: Uint8Array,
  target: Uint8Array,
  targetStart: number,
  sourceStart: number,
  sourceEnd: number,
) => number;
const scratchUnpackr = new Unpackr({
  useRecords: false,
  int64AsType: 'bigint',
  mapsAsObjects: true,
  copyBuffers: true,
});

/**
 * decodeCommand of `data[start, end)`, without a subarray: recovery decodes each record's command out of a page's
 * one buffer (a view per record would be an allocation each, and msgpackr caches a DataView on every new one).
 */
export function decodeCommandAt(data: Uint8Array, start: number, end: number): Command {
  const n = end - start;
  // msgpackr reads an `end` of 0 as "to the end of data": an empty command goes the plain way (and fails there).
  if (n <= 0) return decodeCommand(data.subarray(start, start));
  if (n <= SCRATCH) {
    copyBytes.call(data, scratch, 0, start, end);
    return asCommand(scratchUnpackr.unpack(scratch, n) as unknown);
  }
  range.start = start;
  range.end = end;
  return asCommand(unpackr.unpack(data, range) as unknown);
}

function asCommand(v: unknown): Command {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a command object');
  const c = v as { type?: unknown; time?: unknown };
  if (typeof c.type !== 'string' || typeof c.time !== 'number')
    throw new Error('command without type or time');
  return v as Command;
}

// ---------------------------------------------------------------------------------------------------------
// CRC32 (IEEE 802.3, as zlib/gzip/PNG): slice-by-8 in JS for short buffers, node's native zlib.crc32 (Node ≥ 20.15)
// for long ones (snapshots), slice-by-8 throughout where it is missing.

const TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/** Table-driven CRC32, continuing from `crc` (the previous result); the fallback, exported for the tests. */
export function crc32Js(data: Uint8Array, crc = 0): number {
  let c = ~crc;
  for (let i = 0; i < data.length; i++) c = TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** Slice-by-8 tables: T8[k·256 + b] is the CRC of byte b followed by k zero bytes. */
const T8 = (() => {
  const t = new Int32Array(8 * 256);
  t.set(TABLE);
  for (let k = 1; k < 8; k++) {
    for (let n = 0; n < 256; n++) {
      const p = t[(k - 1) * 256 + n]!;
      t[k * 256 + n] = (p >>> 8) ^ TABLE[p & 0xff]!;
    }
  }
  return t;
})();

/**
 * Slice-by-8 CRC32 in JS, continuing from `crc`: for the short buffers of a command record (~100 bytes) it runs in
 * about half the time of a call into zlib (measured 130–210 ns against 260–550 ns for 118 bytes), whose fixed cost
 * dominates there.
 */
export function crc32Slice8(d: Uint8Array, crc = 0): number {
  return crc32Slice8Range(d, 0, d.length, crc);
}

/** crc32Slice8 over `d[start, end)` (no subarray to allocate). */
function crc32Slice8Range(d: Uint8Array, start: number, end: number, crc: number): number {
  let c = ~crc;
  let i = start;
  const n = end;
  for (; i + 8 <= n; i += 8) {
    const a = (d[i]! | (d[i + 1]! << 8) | (d[i + 2]! << 16) | (d[i + 3]! << 24)) ^ c;
    const b = d[i + 4]! | (d[i + 5]! << 8) | (d[i + 6]! << 16) | (d[i + 7]! << 24);
    c =
      T8[1792 + (a & 0xff)]! ^
      T8[1536 + ((a >>> 8) & 0xff)]! ^
      T8[1280 + ((a >>> 16) & 0xff)]! ^
      T8[1024 + (a >>> 24)]! ^
      T8[768 + (b & 0xff)]! ^
      T8[512 + ((b >>> 8) & 0xff)]! ^
      T8[256 + ((b >>> 16) & 0xff)]! ^
      T8[b >>> 24]!;
  }
  for (; i < n; i++) c = TABLE[(c ^ d[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** Buffers up to this long are checksummed in JS (slice-by-8), longer ones by zlib (whose SIMD wins there). */
const SHORT_CRC = 512;
const nativeCrc = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;
export const crc32: (data: Uint8Array, crc?: number) => number = nativeCrc
  ? (data, crc = 0) => (data.length <= SHORT_CRC ? crc32Slice8(data, crc) : nativeCrc(data, crc))
  : crc32Slice8;

/** CRC32 of `d[start, end)`, continuing from `crc`: as `crc32`, without a subarray for the short ones. */
function crc32Range(d: Uint8Array, start: number, end: number, crc: number): number {
  return end - start <= SHORT_CRC || !nativeCrc
    ? crc32Slice8Range(d, start, end, crc)
    : nativeCrc(d.subarray(start, end), crc);
}

/** CRC32 of seq as 8 little-endian bytes, in JS: cheaper than a native call for 8 bytes. */
function crcSeq(seq: number): number {
  let c = ~0;
  let lo = seq >>> 0;
  let hi = Math.floor(seq / 4294967296) >>> 0;
  for (let i = 0; i < 4; i++, lo >>>= 8) c = TABLE[(c ^ lo) & 0xff]! ^ (c >>> 8);
  for (let i = 0; i < 4; i++, hi >>>= 8) c = TABLE[(c ^ hi) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** CRC32 of seq (8 bytes little-endian), then the command bytes, then the state hash's ASCII when there is one. */
export function recordChecksum(seq: number, command: Uint8Array, stateHash: string | null): number {
  return recordChecksumAt(seq, command, 0, command.length, stateHash);
}

/** recordChecksum of a command that is `data[start, end)`. */
export function recordChecksumAt(
  seq: number,
  data: Uint8Array,
  start: number,
  end: number,
  stateHash: string | null,
): number {
  let c = crc32Range(data, start, end, crcSeq(seq));
  if (stateHash !== null) c = crc32(Buffer.from(stateHash, 'latin1'), c);
  return c;
}

/** CRC32 of seq (8 bytes little-endian), then the state hash's ASCII, then the snapshot data. */
export function snapshotChecksum(seq: number, stateHash: string, data: Uint8Array): number {
  return crc32(data, crc32(Buffer.from(stateHash, 'latin1'), crcSeq(seq)));
}

export function makeSnapshotRecord(
  seq: number,
  time: number,
  stateHash: string,
  data: Uint8Array,
): SnapshotRecord {
  return { seq, time, stateHash, data, checksum: snapshotChecksum(seq, stateHash, data) };
}

/** Why a stored snapshot cannot be trusted (before restoring it), or null when its checksum and fields hold. */
export function snapshotProblem(s: SnapshotRecord): string | null {
  if (!Number.isSafeInteger(s.seq) || s.seq < 0) return `invalid seq ${String(s.seq)}`;
  if (!(s.data instanceof Uint8Array)) return 'data is not bytes';
  if (typeof s.stateHash !== 'string' || !/^[0-9a-f]{64}$/.test(s.stateHash)) return 'malformed state hash';
  if (snapshotChecksum(s.seq, s.stateHash, s.data) !== s.checksum >>> 0) return 'bad checksum';
  return null;
}

export function makeRecord(
  seq: number,
  time: number,
  command: Uint8Array,
  stateHash: string | null = null,
): JournalRecord {
  return { seq, time, command, checksum: recordChecksum(seq, command, stateHash), stateHash };
}

/**
 * Why a stored record cannot be trusted (bad checksum, undecodable, inconsistent), or null with the decoded
 * command when it is sound.
 */
export function checkRecord(
  r: JournalRecord,
): { ok: true; command: Command } | { ok: false; reason: string } {
  if (!Number.isSafeInteger(r.seq) || r.seq < 1) return { ok: false, reason: `invalid seq ${String(r.seq)}` };
  if (!(r.command instanceof Uint8Array)) return { ok: false, reason: 'command is not bytes' };
  const c = checkRecordAt(r.seq, r.time, r.checksum, r.stateHash, r.command, 0, r.command.length);
  return typeof c === 'string' ? { ok: false, reason: c } : { ok: true, command: c };
}

/**
 * checkRecord of a record given by its fields, its command being `data[start, end)` (a page's buffer, as recovery
 * reads it): the decoded command when the record is sound, else why not (a string). No allocation beyond the
 * command's own, so the two read paths give every record the same verdict at a fraction of the cost.
 */
export function checkRecordAt(
  seq: number,
  time: number,
  checksum: number,
  stateHash: string | null,
  data: Uint8Array,
  start: number,
  end: number,
  /**
   * True when the reader already compared this record's checksum and it matched (RecordPage.checksumOk: a page
   * read on another thread); anything else computes it here.
   */
  checksumMatched = false,
): Command | string {
  if (!Number.isSafeInteger(seq) || seq < 1) return `invalid seq ${String(seq)}`;
  if (stateHash !== null && (typeof stateHash !== 'string' || !/^[0-9a-f]{64}$/.test(stateHash)))
    return 'malformed state hash';
  if (!checksumMatched && recordChecksumAt(seq, data, start, end, stateHash) !== checksum >>> 0)
    return 'bad checksum';
  let command: Command;
  try {
    command = decodeCommandAt(data, start, end);
  } catch (e) {
    return `undecodable command (${(e as Error).message})`;
  }
  if (command.time !== time) return `time ${time} differs from the command's ${command.time}`;
  return command;
}
