/**
 * LSM engine options for tests: silent, a manual clock, 1 MiB commit-log segments, a
 * batch commit log, nothing throttled. A test overrides what it is about.
 */
import { ManualClock } from '../../lib/model/clock.js';
import type { FileSystem } from '../../lib/storage/fs.js';
import type { LsmEngineOptions } from '../../lib/storage/lsm/engine.js';

export const SILENT_LOGGER = { info() {}, warn() {}, error() {} };

export function testEngineOptions(fs: FileSystem, dataDir: string, overrides: Partial<LsmEngineOptions> = {}): LsmEngineOptions {
  return {
    fs,
    dataDir,
    clock: new ManualClock(),
    logger: SILENT_LOGGER,
    commitlogSync: 'batch',
    commitlogSyncPeriodMs: 10_000,
    commitlogGroupWindowMs: 2,
    commitlogSegmentBytes: 1 << 20,
    commitlogTotalSpaceBytes: 64 << 20,
    memtableSpaceBytes: 64 << 20,
    compactionThroughputBytes: 0,
    ...overrides,
  };
}
