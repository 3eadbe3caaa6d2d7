/**
 * The `compaction` table option's sub-options: Cassandra's names, defaults and
 * validation messages, parsed once per table schema into typed settings.
 */
import { ConfigurationError } from '../../errors.js';
import type { CompactionOptions } from '../../schema/metadata.js';
import type { TombstoneCompactionOptions } from './plan.js';

const MiB = 1024 * 1024;

export interface CommonCompactionOptions extends TombstoneCompactionOptions {
  /** enabled: false stops background compactions; major compactions still run. */
  readonly enabled: boolean;
  /** min_threshold: fewest SSTables a size-tiered bucket needs to be compacted. */
  readonly minThreshold: number;
  /** max_threshold: most SSTables one size-tiered compaction takes. */
  readonly maxThreshold: number;
}

export interface SizeTieredOptions extends CommonCompactionOptions {
  /** bucket_low / bucket_high: an SSTable joins a bucket when its size is within these
   *  factors of the bucket's average size. */
  readonly bucketLow: number;
  readonly bucketHigh: number;
  /** min_sstable_size (bytes): SSTables smaller than this all share one bucket. */
  readonly minSSTableBytes: number;
}

/** Leveled compaction falls back to size-tiered compaction inside L0 when it falls
 *  behind, so it also takes the size-tiered options. */
export interface LeveledOptions extends SizeTieredOptions {
  /** sstable_size_in_mb, in bytes: the size output SSTables are split at. */
  readonly sstableBytes: number;
  /** fanout_size: each level holds this many times the previous one. */
  readonly fanout: number;
}

const COMMON_KEYS = [
  'enabled',
  'min_threshold',
  'max_threshold',
  'tombstone_threshold',
  'tombstone_compaction_interval',
  'unchecked_tombstone_compaction',
  // Accepted for compatibility with Cassandra schemas; they change nothing here.
  'log_all',
  'only_purge_repaired_tombstones',
  'provide_overlapping_tombstones',
];
const SIZE_TIERED_KEYS = [...COMMON_KEYS, 'bucket_low', 'bucket_high', 'min_sstable_size'];
const KEYS_BY_CLASS: Record<CompactionOptions['class'], ReadonlySet<string>> = {
  SizeTieredCompactionStrategy: new Set(SIZE_TIERED_KEYS),
  LeveledCompactionStrategy: new Set([...SIZE_TIERED_KEYS, 'sstable_size_in_mb', 'fanout_size', 'single_sstable_uplevel']),
  TimeWindowCompactionStrategy: new Set([
    ...SIZE_TIERED_KEYS,
    'compaction_window_unit',
    'compaction_window_size',
    'timestamp_resolution',
    'expired_sstable_check_frequency_seconds',
    'unsafe_aggressive_sstable_expiration',
  ]),
};

const TIME_WINDOW_UNITS = new Set(['MINUTES', 'HOURS', 'DAYS']);
const TIMESTAMP_RESOLUTIONS = new Set(['MICROSECONDS', 'MILLISECONDS', 'SECONDS', 'MINUTES', 'HOURS', 'DAYS', 'NANOSECONDS']);

type OptionMap = Readonly<Record<string, string>>;

/**
 * Checks a table's compaction sub-options: unknown keys and bad values raise a
 * ConfigurationError worded as Cassandra's. Called when a table is created or altered.
 */
export function validateCompactionOptions(cls: CompactionOptions['class'], options: OptionMap): void {
  const known = KEYS_BY_CLASS[cls];
  const unknown = Object.keys(options).filter((key) => !known.has(key));
  if (unknown.length > 0) {
    throw new ConfigurationError(`Properties specified [${unknown.join(', ')}] are not understood by ${cls}`);
  }
  if (cls === 'LeveledCompactionStrategy') parseLeveledOptions(options);
  else parseSizeTieredOptions(options);
  if (cls === 'TimeWindowCompactionStrategy') validateTimeWindowOptions(options);
  for (const key of ['log_all', 'only_purge_repaired_tombstones', 'provide_overlapping_tombstones', 'single_sstable_uplevel']) {
    booleanOption(options, key, false);
  }
}

export function parseSizeTieredOptions(options: OptionMap): SizeTieredOptions {
  const common = parseCommonOptions(options);
  const bucketLow = numberOption(options, 'bucket_low', 0.5);
  const bucketHigh = numberOption(options, 'bucket_high', 1.5);
  if (bucketHigh <= bucketLow) {
    throw new ConfigurationError(`bucket_high value (${bucketHigh}) is less than or equal to the bucket_low value (${bucketLow})`);
  }
  const minSSTableBytes = integerOption(options, 'min_sstable_size', 50 * MiB);
  if (minSSTableBytes < 0) throw new ConfigurationError(`min_sstable_size must be non negative: ${minSSTableBytes}`);
  return { ...common, bucketLow, bucketHigh, minSSTableBytes };
}

export function parseLeveledOptions(options: OptionMap): LeveledOptions {
  const sizeTiered = parseSizeTieredOptions(options);
  const sstableSizeMb = integerOption(options, 'sstable_size_in_mb', 160);
  if (sstableSizeMb <= 0) throw new ConfigurationError(`sstable_size_in_mb must be larger than 0, but was ${sstableSizeMb}`);
  const fanout = integerOption(options, 'fanout_size', 10);
  if (fanout <= 1) throw new ConfigurationError(`fanout_size must be larger than 1, but was ${fanout}`);
  return { ...sizeTiered, sstableBytes: sstableSizeMb * MiB, fanout };
}

function parseCommonOptions(options: OptionMap): CommonCompactionOptions {
  const minThreshold = integerOption(options, 'min_threshold', 4);
  const maxThreshold = integerOption(options, 'max_threshold', 32);
  if (minThreshold < 2) throw new ConfigurationError(`Min compaction threshold cannot be less than 2 (got ${minThreshold})`);
  if (maxThreshold < minThreshold) {
    throw new ConfigurationError(
      `Min compaction threshold (got ${minThreshold}) cannot be greater than max compaction threshold (got ${maxThreshold})`,
    );
  }
  const tombstoneThreshold = numberOption(options, 'tombstone_threshold', 0.2);
  if (tombstoneThreshold < 0) {
    throw new ConfigurationError(`tombstone_threshold must be greater than 0, but was ${tombstoneThreshold}`);
  }
  const tombstoneCompactionIntervalSeconds = integerOption(options, 'tombstone_compaction_interval', 86400);
  if (tombstoneCompactionIntervalSeconds < 0) {
    throw new ConfigurationError(`tombstone_compaction_interval must be nonnegative, but was ${tombstoneCompactionIntervalSeconds}`);
  }
  return {
    enabled: booleanOption(options, 'enabled', true),
    minThreshold,
    maxThreshold,
    tombstoneThreshold,
    tombstoneCompactionIntervalSeconds,
    uncheckedTombstoneCompaction: booleanOption(options, 'unchecked_tombstone_compaction', false),
  };
}

function validateTimeWindowOptions(options: OptionMap): void {
  const unit = options.compaction_window_unit;
  if (unit !== undefined && !TIME_WINDOW_UNITS.has(unit.toUpperCase())) {
    throw new ConfigurationError(`${unit} is not valid for compaction_window_unit`);
  }
  const size = integerOption(options, 'compaction_window_size', 1);
  if (size < 1) throw new ConfigurationError(`compaction_window_size must be greater than 1, but was ${size}`);
  const resolution = options.timestamp_resolution;
  if (resolution !== undefined && !TIMESTAMP_RESOLUTIONS.has(resolution.toUpperCase())) {
    throw new ConfigurationError(`${resolution} is not valid for timestamp_resolution`);
  }
  const frequency = integerOption(options, 'expired_sstable_check_frequency_seconds', 600);
  if (frequency < 0) throw new ConfigurationError(`expired_sstable_check_frequency_seconds must not be negative, but was ${frequency}`);
  booleanOption(options, 'unsafe_aggressive_sstable_expiration', false);
}

function integerOption(options: OptionMap, key: string, fallback: number): number {
  const text = options[key];
  if (text === undefined) return fallback;
  if (!/^\s*[-+]?\d+\s*$/.test(text)) throw new ConfigurationError(`${text} is not a parsable int (base10) for ${key}`);
  return Number.parseInt(text, 10);
}

function numberOption(options: OptionMap, key: string, fallback: number): number {
  const text = options[key];
  if (text === undefined) return fallback;
  const value = text.trim() === '' ? NaN : Number(text);
  if (!Number.isFinite(value)) throw new ConfigurationError(`${text} is not a parsable float for ${key}`);
  return value;
}

function booleanOption(options: OptionMap, key: string, fallback: boolean): boolean {
  const text = options[key];
  if (text === undefined) return fallback;
  const lower = text.trim().toLowerCase();
  if (lower !== 'true' && lower !== 'false') throw new ConfigurationError(`${key} should either be 'true' or 'false', not ${text}`);
  return lower === 'true';
}
