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

/** Time-window compaction compacts size-tiered inside the newest window. */
export interface TimeWindowOptions extends SizeTieredOptions {
  /** compaction_window_size × compaction_window_unit, in seconds. */
  readonly windowSeconds: number;
  /** timestamp_resolution: write timestamps per second (1e6 for MICROSECONDS, the default). */
  readonly timestampsPerSecond: number;
  /** expired_sstable_check_frequency_seconds: how often fully expired SSTables are looked for. */
  readonly expiredCheckSeconds: number;
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

/** Seconds per compaction_window_unit. */
const TIME_WINDOW_UNITS: ReadonlyMap<string, number> = new Map([
  ['MINUTES', 60],
  ['HOURS', 3600],
  ['DAYS', 86400],
]);
/** Timestamps per second for each timestamp_resolution. */
const TIMESTAMP_RESOLUTIONS: ReadonlyMap<string, number> = new Map([
  ['NANOSECONDS', 1e9],
  ['MICROSECONDS', 1e6],
  ['MILLISECONDS', 1e3],
  ['SECONDS', 1],
  ['MINUTES', 1 / 60],
  ['HOURS', 1 / 3600],
  ['DAYS', 1 / 86400],
]);

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
  else if (cls === 'TimeWindowCompactionStrategy') parseTimeWindowOptions(options);
  else parseSizeTieredOptions(options);
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

export function parseTimeWindowOptions(options: OptionMap): TimeWindowOptions {
  const unitName = (options.compaction_window_unit ?? 'DAYS').trim().toUpperCase();
  const unitSeconds = TIME_WINDOW_UNITS.get(unitName);
  if (unitSeconds === undefined) throw new ConfigurationError(`${options.compaction_window_unit} is not valid for compaction_window_unit`);
  const size = integerOption(options, 'compaction_window_size', 1);
  if (size < 1) throw new ConfigurationError(`compaction_window_size must be greater than 1, but was ${size}`);
  const resolutionName = (options.timestamp_resolution ?? 'MICROSECONDS').trim().toUpperCase();
  const timestampsPerSecond = TIMESTAMP_RESOLUTIONS.get(resolutionName);
  if (timestampsPerSecond === undefined) throw new ConfigurationError(`${options.timestamp_resolution} is not valid for timestamp_resolution`);
  const expiredCheckSeconds = integerOption(options, 'expired_sstable_check_frequency_seconds', 600);
  if (expiredCheckSeconds < 0) {
    throw new ConfigurationError(`expired_sstable_check_frequency_seconds must not be negative, but was ${expiredCheckSeconds}`);
  }
  // Cassandra too refuses it unless the node was started to allow it; sibyl never drops
  // an expired SSTable that may still shadow data elsewhere.
  if (booleanOption(options, 'unsafe_aggressive_sstable_expiration', false)) {
    throw new ConfigurationError(
      'unsafe_aggressive_sstable_expiration is not supported: an expired SSTable is dropped only once it shadows no other data',
    );
  }
  return { ...parseSizeTieredOptions(options), windowSeconds: size * unitSeconds, timestampsPerSecond, expiredCheckSeconds };
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
