// The SQLite write-ahead log of a server, seen from outside as any process can: the -wal file's size,
// and the checkpoint sequence number in its header, which SQLite increments each time the log starts
// again from the beginning of the file (a reset).

import assert from 'node:assert/strict';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { WAL_BYTES_MAX, WAL_OVERSHOOT_BYTES_MAX } from '../../src/store/sqlite/writer-protocol.js';
import type { Server } from './server.js';

const WAL_HEADER_BYTES = 32;
/** The largest the file may be: the limit, the overshoot allowed while waiting for the checkpointer, and a commit. */
export const WAL_PEAK_BYTES_MAX = WAL_BYTES_MAX + WAL_OVERSHOOT_BYTES_MAX + 8 * 1024 * 1024;
const SAMPLE_INTERVAL_MS = 10;

export interface WalSample {
  readonly bytes: number;
  /** The header's checkpoint sequence number; undefined while the file holds no header. */
  readonly sequence: number | undefined;
}

export function sampleWal(server: Server): WalSample {
  let fd: number;
  try {
    fd = openSync(`${server.dbPath}-wal`, 'r');
  } catch {
    return { bytes: 0, sequence: undefined };
  }
  try {
    const bytes = fstatSync(fd).size;
    const header = Buffer.alloc(WAL_HEADER_BYTES);
    if (readSync(fd, header, 0, WAL_HEADER_BYTES, 0) < WAL_HEADER_BYTES)
      return { bytes, sequence: undefined };
    return { bytes, sequence: header.readUInt32BE(12) };
  } finally {
    closeSync(fd);
  }
}

export interface WalWatch {
  /** Every size sampled. */
  readonly sizes: number[];
  /** Resets of the log seen: the writer's past the limit, and SQLite's own when a checkpoint caught up. */
  readonly resets: number;
  /** The writer's: resets of a full file, one that had reached WAL_BYTES_MAX. */
  readonly fullResets: number;
  readonly peak: number;
}

/** Samples the WAL every few ms until `done` says so; fails past the deadline. */
export async function watchWal(
  server: Server,
  what: string,
  timeoutMs: number,
  done: (watch: WalWatch, last: WalSample) => boolean,
): Promise<WalWatch> {
  const deadline = Date.now() + timeoutMs;
  const watch = { sizes: [] as number[], resets: 0, fullResets: 0, peak: 0 };
  let last: WalSample = { bytes: 0, sequence: undefined };
  for (;;) {
    const sample = sampleWal(server);
    watch.sizes.push(sample.bytes);
    watch.peak = Math.max(watch.peak, sample.bytes);
    const full = Math.max(sample.bytes, last.bytes) >= WAL_BYTES_MAX;
    const changed =
      sample.sequence !== undefined && last.sequence !== undefined && sample.sequence !== last.sequence;
    if (changed) watch.resets += 1;
    if (changed && full) watch.fullResets += 1;
    if (sample.sequence !== undefined) last = sample;
    if (done(watch, sample)) return watch;
    if (Date.now() > deadline)
      assert.fail(
        `${what}: not within ${timeoutMs} ms (${watch.fullResets} resets, peak ${mib(watch.peak)})`,
      );
    await new Promise((resolve) => setTimeout(resolve, SAMPLE_INTERVAL_MS));
  }
}

export const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
