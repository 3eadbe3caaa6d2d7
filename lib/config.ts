/**
 * A node's configuration: defaults, then one YAML file (`--config`), then command-line
 * flags, validated once at start. YAML keys are cassandra.yaml's names wherever the
 * concept is the same, and values use Cassandra 4.1's unit syntax (durations `10s`,
 * `500ms`, `3h`; sizes `32MiB`; rates `64MiB/s`), so an operator finds them where they
 * expect. Keys that are ours: `data_dir`, `http_address`, `http_port`, `seeds`, `dc`,
 * `rack`, `max_request_body_size`, `max_statement_length`, `clock_offset_ms`.
 *
 * In code the values are typed and carry their unit in the name (`…Ms`, `…Bytes`).
 * Unknown keys and bad values throw a ConfigurationError that names the key.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigurationError } from './errors.js';

export type CommitlogSync = 'periodic' | 'batch' | 'group';

/**
 * `GossipingPropertyFileSnitch` (our default) takes the node's dc and rack from its
 * configuration; `SimpleSnitch` puts every node in datacenter1 / rack1, as in Cassandra.
 */
export type EndpointSnitch = 'SimpleSnitch' | 'GossipingPropertyFileSnitch';

export interface NodeConfig {
  readonly clusterName: string;
  /** Absolute path of the node's data directory (commit log, SSTables, system state). */
  readonly dataDir: string;
  readonly httpAddress: string;
  /** 0 binds a free port (tests); SibylNode reports the bound one. */
  readonly httpPort: number;
  /** Internode (gossip, messaging) address and port. */
  readonly listenAddress: string;
  readonly storagePort: number;
  /** Seed nodes as normalised `host:port` (port defaults to storage_port). */
  readonly seeds: readonly string[];
  readonly endpointSnitch: EndpointSnitch;
  readonly dc: string;
  readonly rack: string;
  readonly numTokens: number;
  /** allocate_tokens_for_local_replication_factor: the RF token allocation balances replicated ownership for. */
  readonly allocationReplicationFactor: number;
  readonly commitlogSync: CommitlogSync;
  /** periodic mode: how often the commit log is fsynced. */
  readonly commitlogSyncPeriodMs: number;
  /** group mode: how long a sync waits to gather concurrent writers. */
  readonly commitlogSyncGroupWindowMs: number;
  readonly commitlogSegmentSizeBytes: number;
  readonly commitlogTotalSpaceBytes: number;
  readonly memtableHeapSpaceBytes: number;
  /** 0 means unthrottled, as in Cassandra. */
  readonly compactionThroughputBytesPerSecond: number;
  readonly hintedHandoffEnabled: boolean;
  /** Hint replay bytes per second over all targets; 0 means unthrottled. */
  readonly hintedHandoffThrottleBytesPerSecond: number;
  /** Streaming (repair, bootstrap, decommission, removenode) bytes sent per second; 0 means unthrottled. */
  readonly streamThroughputOutboundBytesPerSecond: number;
  /**
   * How long a node that starts or stops owning ranges (bootstrap, decommission) waits
   * after announcing it before it streams, so every coordinator has heard and writes to
   * it (Cassandra's ring delay, 30 s there; gossip converges in a few seconds here).
   */
  readonly ringDelayMs: number;
  /**
   * A new node streams the data of the ranges it takes from the current replicas before
   * it serves them (Cassandra's auto_bootstrap). Off: it joins at once, empty, and the
   * operator repairs it.
   */
  readonly autoBootstrap: boolean;
  /** Replay skips corrupt commit-log records (and says how many) instead of refusing to start. */
  readonly commitlogReplaySkipCorrupt: boolean;
  /** Decompressed SSTable chunks cached for reads. */
  readonly fileCacheSizeBytes: number;
  readonly maxHintWindowMs: number;
  readonly readRequestTimeoutMs: number;
  readonly writeRequestTimeoutMs: number;
  readonly phiConvictThreshold: number;
  /** Largest HTTP request body accepted (413 above it). */
  readonly maxRequestBodySizeBytes: number;
  /** Longest CQL statement accepted, in characters. */
  readonly maxStatementLength: number;
  /** Shifts this node's clock (chaos tests use it for clock skew). */
  readonly clockOffsetMs: number;
}

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

const DEFAULT_CONFIG: NodeConfig = Object.freeze({
  clusterName: 'Test Cluster',
  dataDir: 'data',
  httpAddress: '127.0.0.1',
  httpPort: 8080,
  listenAddress: '127.0.0.1',
  storagePort: 7000,
  // Empty until finish(): a node with no seeds is its own seed, like Cassandra's default.
  seeds: [],
  endpointSnitch: 'GossipingPropertyFileSnitch',
  dc: 'datacenter1',
  rack: 'rack1',
  numTokens: 16,
  allocationReplicationFactor: 3,
  commitlogSync: 'periodic',
  commitlogSyncPeriodMs: 10_000,
  commitlogSyncGroupWindowMs: 15,
  commitlogSegmentSizeBytes: 32 * MiB,
  commitlogTotalSpaceBytes: 8 * GiB,
  memtableHeapSpaceBytes: 128 * MiB,
  compactionThroughputBytesPerSecond: 64 * MiB,
  hintedHandoffEnabled: true,
  // Cassandra's default hinted_handoff_throttle is 1024KiB/s.
  hintedHandoffThrottleBytesPerSecond: 1 * MiB,
  // Cassandra's default stream_throughput_outbound is 24MiB/s.
  streamThroughputOutboundBytesPerSecond: 24 * MiB,
  ringDelayMs: 5_000,
  autoBootstrap: true,
  commitlogReplaySkipCorrupt: false,
  fileCacheSizeBytes: 256 * MiB,
  maxHintWindowMs: 3 * 3_600_000,
  readRequestTimeoutMs: 5_000,
  writeRequestTimeoutMs: 2_000,
  phiConvictThreshold: 8,
  maxRequestBodySizeBytes: 1 * MiB,
  maxStatementLength: 64 * KiB,
  clockOffsetMs: 0,
});

// ---- values -------------------------------------------------------------------------

function show(value: unknown): string {
  return typeof value === 'string' ? `'${value}'` : JSON.stringify(value) ?? String(value);
}

function invalid(key: string, value: unknown, expected: string): ConfigurationError {
  return new ConfigurationError(`Invalid value for ${key}: ${show(value)} (expected ${expected})`);
}

const DURATION_MS: Record<string, number> = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000, ms: 1, us: 1e-3, µs: 1e-3, ns: 1e-6 };
const SIZE_BYTES: Record<string, number> = { B: 1, KiB, MiB, GiB };
const RATE_BYTES: Record<string, number> = { 'B/s': 1, 'KiB/s': KiB, 'MiB/s': MiB };
const DURATION_PATTERN = /^(\d+)(d|h|m|s|ms|us|µs|ns)$/;
const SIZE_PATTERN = /^(\d+)(B|KiB|MiB|GiB)$/;
const RATE_PATTERN = /^(\d+)(B\/s|KiB\/s|MiB\/s)$/;
const DURATION_EXPECTED = 'a duration such as 500ms, 10s or 3h; units d, h, m, s, ms, us, µs, ns';
const SIZE_EXPECTED = 'a size such as 32MiB; units B, KiB, MiB, GiB';
const RATE_EXPECTED = 'a rate such as 64MiB/s; units B/s, KiB/s, MiB/s';

function parseUnits(text: string, pattern: RegExp, units: Record<string, number>): number | undefined {
  const match = pattern.exec(text);
  if (match === null) return undefined;
  const value = Number(match[1]) * units[match[2]];
  return Number.isSafeInteger(Math.ceil(value)) ? value : undefined;
}

/** A Cassandra 4.1 duration (`10s`, `500ms`, `3h`; units d h m s ms us µs ns) in milliseconds. */
export function parseDuration(text: string, key = 'duration'): number {
  const ms = parseUnits(text, DURATION_PATTERN, DURATION_MS);
  if (ms === undefined) throw invalid(key, text, DURATION_EXPECTED);
  return ms;
}

/** A Cassandra 4.1 data size (`32MiB`; units B KiB MiB GiB) in bytes. */
export function parseDataSize(text: string, key = 'size'): number {
  const bytes = parseUnits(text, SIZE_PATTERN, SIZE_BYTES);
  if (bytes === undefined) throw invalid(key, text, SIZE_EXPECTED);
  return bytes;
}

/** A Cassandra 4.1 data rate (`64MiB/s`; units B/s KiB/s MiB/s) in bytes per second. */
export function parseDataRate(text: string, key = 'rate'): number {
  const rate = parseUnits(text, RATE_PATTERN, RATE_BYTES);
  if (rate === undefined) throw invalid(key, text, RATE_EXPECTED);
  return rate;
}

export interface HostPort {
  host: string;
  port: number;
}

/** `host:port`, `host` (port undefined: the caller's default) or `[IPv6 address]:port`. */
export function parseHostPort(text: string): { host: string; port: number | undefined } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]\s]+))(?::(\d{1,5}))?$/.exec(text.trim());
  const port = match?.[3] === undefined ? undefined : Number(match[3]);
  if (match === null || (port !== undefined && port > 65535)) {
    throw new ConfigurationError(`Invalid address '${text}' (expected HOST:PORT, HOST or [IPv6]:PORT)`);
  }
  return { host: match[1] ?? match[2], port };
}

export function formatHostPort({ host, port }: HostPort): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * How one kind of value is read from YAML and checked. `fromYaml` converts what the
 * file holds (text with units, lists) to the typed value; `check` validates a typed
 * value, whether it came from the file or from a flag.
 */
interface ValueKind<T> {
  fromYaml(raw: unknown, key: string): T;
  check(value: T, key: string): void;
}

function text(): ValueKind<string> {
  const check = (value: string, key: string) => {
    if (typeof value !== 'string' || value.trim() === '') throw invalid(key, value, 'a non-empty string');
  };
  return {
    // YAML reads `dc: 1` as a number; a name is still meant.
    fromYaml: (raw, key) => {
      const value = typeof raw === 'number' ? String(raw) : (raw as string);
      check(value, key);
      return value;
    },
    check,
  };
}

function integer(min = -Number.MAX_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): ValueKind<number> {
  const expected =
    max < Number.MAX_SAFE_INTEGER ? `an integer from ${min} to ${max}` : min > -Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : 'an integer';
  const check = (value: number, key: string) => {
    if (!Number.isSafeInteger(value) || value < min || value > max) throw invalid(key, value, expected);
  };
  return { fromYaml: (raw, key) => (check(raw as number, key), raw as number), check };
}

function positiveNumber(): ValueKind<number> {
  const check = (value: number, key: string) => {
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw invalid(key, value, 'a positive number');
  };
  return { fromYaml: (raw, key) => (check(raw as number, key), raw as number), check };
}

function boolean(): ValueKind<boolean> {
  const check = (value: boolean, key: string) => {
    if (typeof value !== 'boolean') throw invalid(key, value, 'true or false');
  };
  return { fromYaml: (raw, key) => (check(raw as boolean, key), raw as boolean), check };
}

function oneOf<T extends string>(values: readonly T[], aliases: Record<string, T> = {}): ValueKind<T> {
  const expected = `${values.slice(0, -1).join(', ')} or ${values[values.length - 1]}`;
  const check = (value: T, key: string) => {
    if (!values.includes(value)) throw invalid(key, value, expected);
  };
  return {
    fromYaml: (raw, key) => {
      const value = (typeof raw === 'string' && Object.hasOwn(aliases, raw) ? aliases[raw] : raw) as T;
      check(value, key);
      return value;
    },
    check,
  };
}

/**
 * Durations, sizes and rates: text in Cassandra's unit syntax. A bare number is taken
 * as milliseconds for durations (what the pre-4.1 `_in_ms` keys held); sizes and rates
 * accept a bare 0 only, because `memtable_heap_space: 2048` is more likely meant in MiB
 * than in bytes, and refusing is better than guessing.
 */
function measure(
  parse: (text: string, key: string) => number,
  expected: string,
  bareNumbers: 'ms' | 'zero-only',
  min: number,
): ValueKind<number> {
  const check = (value: number, key: string) => {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
      throw invalid(key, value, min > 0 ? `a positive amount: ${expected}` : expected);
    }
  };
  return {
    fromYaml: (raw, key) => {
      if (typeof raw === 'number' && bareNumbers === 'zero-only' && raw !== 0) throw invalid(key, raw, expected);
      if (typeof raw !== 'string' && typeof raw !== 'number') throw invalid(key, raw, expected);
      const value = typeof raw === 'string' ? parse(raw, key) : raw;
      check(value, key);
      return value;
    },
    check,
  };
}

const duration = (min: number) => measure(parseDuration, DURATION_EXPECTED, 'ms', min);
const size = measure(parseDataSize, SIZE_EXPECTED, 'zero-only', 1);
const rate = measure(parseDataRate, RATE_EXPECTED, 'zero-only', 0);

const CASSANDRA_LOCATOR = 'org.apache.cassandra.locator.';
const SEED_PROVIDER = 'SimpleSeedProvider';

function seedList(): ValueKind<readonly string[]> {
  const check = (value: readonly string[], key: string) => {
    if (!Array.isArray(value) || value.some((seed) => typeof seed !== 'string')) {
      throw invalid(key, value, 'a list of HOST or HOST:PORT');
    }
    for (const seed of value) {
      try {
        parseHostPort(seed);
      } catch {
        throw invalid(key, seed, 'HOST or HOST:PORT');
      }
    }
  };
  return {
    // Cassandra writes seeds as one comma-separated string; a YAML list reads better.
    fromYaml: (raw, key) => {
      const value = typeof raw === 'string' ? splitSeeds(raw) : (raw as string[]);
      check(value, key);
      return value;
    },
    check,
  };
}

/** A seed list as Cassandra writes it: "host1, host2:7001". */
export function splitSeeds(text: string): string[] {
  return text
    .split(',')
    .map((seed) => seed.trim())
    .filter((seed) => seed !== '');
}

/** `seed_provider: [{class_name: …SimpleSeedProvider, parameters: [{seeds: "a,b"}]}]` */
function seedProvider(): ValueKind<readonly string[]> {
  const seeds = seedList();
  return {
    fromYaml: (raw, key) => {
      const expected = `[{class_name: ${SEED_PROVIDER}, parameters: [{seeds: "host1,host2"}]}]`;
      if (!Array.isArray(raw) || raw.length !== 1 || typeof raw[0] !== 'object' || raw[0] === null) {
        throw invalid(key, raw, expected);
      }
      const { class_name: className, parameters } = raw[0] as { class_name?: unknown; parameters?: unknown };
      if (className !== SEED_PROVIDER && className !== CASSANDRA_LOCATOR + SEED_PROVIDER) {
        throw invalid(`${key}.class_name`, className, SEED_PROVIDER);
      }
      const list = Array.isArray(parameters) ? (parameters[0] as { seeds?: unknown } | undefined)?.seeds : undefined;
      if (typeof list !== 'string') throw invalid(`${key}.parameters`, parameters, '[{seeds: "host1,host2"}]');
      return seeds.fromYaml(list, key);
    },
    check: seeds.check,
  };
}

/** `data_file_directories` is a list in Cassandra; a node here has one data directory. */
function dataDirectories(): ValueKind<string> {
  const path = text();
  return {
    fromYaml: (raw, key) => {
      if (!Array.isArray(raw) || raw.length !== 1) throw invalid(key, raw, 'a list of exactly one directory');
      return path.fromYaml(raw[0], key);
    },
    check: path.check,
  };
}

// ---- keys ---------------------------------------------------------------------------

interface KeySpec {
  field: keyof NodeConfig;
  kind: ValueKind<never>;
}

function key<F extends keyof NodeConfig>(field: F, kind: ValueKind<NodeConfig[F]>): KeySpec {
  return { field, kind: kind as ValueKind<never> };
}

const port = integer(0, 65535);
const timeout = duration(1);

/** Every YAML key, by its cassandra.yaml (or our) name. */
const KEYS: Readonly<Record<string, KeySpec>> = Object.freeze({
  cluster_name: key('clusterName', text()),
  // Relative data directories are resolved against the working directory, as in Cassandra.
  data_dir: key('dataDir', text()),
  data_file_directories: key('dataDir', dataDirectories()),
  http_address: key('httpAddress', text()),
  http_port: key('httpPort', port),
  listen_address: key('listenAddress', text()),
  storage_port: key('storagePort', port),
  seeds: key('seeds', seedList()),
  seed_provider: key('seeds', seedProvider()),
  endpoint_snitch: key(
    'endpointSnitch',
    oneOf<EndpointSnitch>(['SimpleSnitch', 'GossipingPropertyFileSnitch'], {
      [`${CASSANDRA_LOCATOR}SimpleSnitch`]: 'SimpleSnitch',
      [`${CASSANDRA_LOCATOR}GossipingPropertyFileSnitch`]: 'GossipingPropertyFileSnitch',
    }),
  ),
  dc: key('dc', text()),
  rack: key('rack', text()),
  // Cassandra caps vnodes at 1536 per node.
  num_tokens: key('numTokens', integer(1, 1536)),
  allocate_tokens_for_local_replication_factor: key('allocationReplicationFactor', integer(1, 32)),
  commitlog_sync: key('commitlogSync', oneOf<CommitlogSync>(['periodic', 'batch', 'group'])),
  commitlog_sync_period: key('commitlogSyncPeriodMs', timeout),
  commitlog_sync_group_window: key('commitlogSyncGroupWindowMs', timeout),
  commitlog_segment_size: key('commitlogSegmentSizeBytes', size),
  commitlog_total_space: key('commitlogTotalSpaceBytes', size),
  memtable_heap_space: key('memtableHeapSpaceBytes', size),
  file_cache_size: key('fileCacheSizeBytes', size),
  compaction_throughput: key('compactionThroughputBytesPerSecond', rate),
  hinted_handoff_enabled: key('hintedHandoffEnabled', boolean()),
  hinted_handoff_throttle: key('hintedHandoffThrottleBytesPerSecond', rate),
  stream_throughput_outbound: key('streamThroughputOutboundBytesPerSecond', rate),
  ring_delay: key('ringDelayMs', duration(0)),
  auto_bootstrap: key('autoBootstrap', boolean()),
  commitlog_replay_skip_corrupt: key('commitlogReplaySkipCorrupt', boolean()),
  max_hint_window: key('maxHintWindowMs', duration(0)),
  read_request_timeout: key('readRequestTimeoutMs', timeout),
  write_request_timeout: key('writeRequestTimeoutMs', timeout),
  phi_convict_threshold: key('phiConvictThreshold', positiveNumber()),
  max_request_body_size: key('maxRequestBodySizeBytes', size),
  max_statement_length: key('maxStatementLength', integer(1)),
  clock_offset_ms: key('clockOffsetMs', integer()),
});

/** For messages about flags: the YAML key of each field (the first one listed). */
const KEY_OF_FIELD = new Map<keyof NodeConfig, string>();
for (const [name, spec] of Object.entries(KEYS)) if (!KEY_OF_FIELD.has(spec.field)) KEY_OF_FIELD.set(spec.field, name);

/** A hint for an unknown key: the 4.1 name of an old one, or the nearest known key. */
function suggestKey(unknown: string): string {
  // Cassandra 4.1 dropped units from names (commitlog_sync_period_in_ms → commitlog_sync_period).
  const renamed = unknown.replace(/_in_(ms|s|mb|kb|kib|mib)$/, '');
  if (renamed !== unknown && Object.hasOwn(KEYS, renamed)) return ` (now '${renamed}', with the unit in the value)`;
  let best: string | undefined;
  let bestDistance = 3; // more than two edits away is a different word, not a typo
  for (const known of Object.keys(KEYS)) {
    const distance = editDistance(unknown, known);
    if (distance < bestDistance) [best, bestDistance] = [known, distance];
  }
  return best === undefined ? '' : ` (did you mean '${best}'?)`;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}

// ---- loading ------------------------------------------------------------------------

function readConfigFile(file: string): Partial<Record<keyof NodeConfig, unknown>> {
  let document: unknown;
  try {
    document = parseYaml(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigurationError(`Cannot load configuration file ${file}: ${(error as Error).message}`);
  }
  if (document === null || document === undefined) return {}; // an empty file: all defaults
  if (typeof document !== 'object' || Array.isArray(document)) {
    throw new ConfigurationError(`Configuration file ${file} must hold a mapping of keys to values`);
  }
  const values: Partial<Record<keyof NodeConfig, unknown>> = {};
  const setBy = new Map<keyof NodeConfig, string>();
  for (const [name, raw] of Object.entries(document)) {
    if (!Object.hasOwn(KEYS, name)) {
      throw new ConfigurationError(`Unknown configuration key '${name}' in ${file}${suggestKey(name)}`);
    }
    // A key written with no value (`num_tokens:`) keeps the default, as in cassandra.yaml.
    if (raw === null) continue;
    const spec = KEYS[name];
    const other = setBy.get(spec.field);
    if (other !== undefined) throw new ConfigurationError(`Configuration keys '${other}' and '${name}' in ${file} both set the same thing; keep one`);
    setBy.set(spec.field, name);
    values[spec.field] = spec.kind.fromYaml(raw as never, name);
  }
  return values;
}

export interface LoadConfigOptions {
  /** A YAML file in cassandra.yaml style. */
  file?: string;
  /** Values that override the file (command-line flags, tests), already typed. */
  flags?: Partial<NodeConfig>;
}

/** Defaults, then the file, then the flags; throws ConfigurationError naming the bad key. */
export function loadConfig({ file, flags = {} }: LoadConfigOptions = {}): NodeConfig {
  const fromFile = file === undefined ? {} : readConfigFile(file);
  const fromFlags: Partial<Record<keyof NodeConfig, unknown>> = {};
  for (const [field, value] of Object.entries(flags) as [keyof NodeConfig, unknown][]) {
    if (value === undefined) continue;
    const name = KEY_OF_FIELD.get(field);
    if (name === undefined) throw new ConfigurationError(`Unknown configuration setting '${field}'`);
    KEYS[name].kind.check(value as never, name);
    fromFlags[field] = value;
  }
  return finish({ ...DEFAULT_CONFIG, ...fromFile, ...fromFlags } as NodeConfig);
}

/** Rules that involve more than one key, and values derived from others. */
function finish(config: NodeConfig): NodeConfig {
  if (
    config.endpointSnitch === 'SimpleSnitch' &&
    (config.dc !== DEFAULT_CONFIG.dc || config.rack !== DEFAULT_CONFIG.rack)
  ) {
    throw new ConfigurationError(
      `endpoint_snitch SimpleSnitch places every node in ${DEFAULT_CONFIG.dc}/${DEFAULT_CONFIG.rack}; use GossipingPropertyFileSnitch to set dc '${config.dc}' and rack '${config.rack}'`,
    );
  }
  const seeds =
    config.seeds.length === 0
      ? [formatHostPort({ host: config.listenAddress, port: config.storagePort })]
      : config.seeds.map((seed) => {
          const { host, port } = parseHostPort(seed);
          return formatHostPort({ host, port: port ?? config.storagePort });
        });
  return Object.freeze({ ...config, dataDir: resolve(config.dataDir), seeds: Object.freeze(seeds) });
}
