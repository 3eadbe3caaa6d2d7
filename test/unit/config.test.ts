import fc from 'fast-check';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import t, { type Test } from 'tap';
import { loadConfig, parseDataRate, parseDataSize, parseDuration, parseHostPort } from '../../lib/config.js';
import { ConfigurationError } from '../../lib/errors.js';
import { propertyHolds } from '../helpers/property.js';

const MiB = 1024 * 1024;

/** Writes `yaml` to a file in a fresh temp dir removed after the test. */
async function yamlFile(t: Test, yaml: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sibyl-config-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'sibyl.yaml');
  await writeFile(file, yaml);
  return file;
}

function configError(t: Test, fn: () => unknown, message: string | RegExp): void {
  try {
    fn();
    t.fail(`expected ConfigurationError ${String(message)}`);
  } catch (error) {
    t.type(error, ConfigurationError);
    if (typeof message === 'string') t.equal((error as Error).message, message);
    else t.match((error as Error).message, message);
  }
}

t.test('with no file and no flags the defaults let a node start', async (t) => {
  const config = loadConfig();
  t.equal(config.numTokens, 16);
  t.equal(config.commitlogSync, 'periodic');
  t.equal(config.commitlogSyncPeriodMs, 10_000);
  t.equal(config.commitlogSegmentSizeBytes, 32 * MiB);
  t.equal(config.compactionThroughputBytesPerSecond, 64 * MiB);
  t.equal(config.maxHintWindowMs, 3 * 3600 * 1000);
  t.equal(config.hintedHandoffThrottleBytesPerSecond, MiB, "Cassandra's 1024KiB/s");
  t.equal(config.readRequestTimeoutMs, 5000);
  t.equal(config.writeRequestTimeoutMs, 2000);
  t.equal(config.phiConvictThreshold, 8);
  t.equal(config.httpPort, 8080);
  t.equal(config.maxRequestBodySizeBytes, MiB);
  t.equal(config.maxStatementLength, 64 * 1024);
  t.ok(isAbsolute(config.dataDir), 'data_dir is resolved to an absolute path');
  t.same(config.seeds, ['127.0.0.1:7000'], 'a node with no seeds is its own seed');
  t.ok(Object.isFrozen(config));
});

t.test('cassandra.yaml keys and 4.1 unit syntax are read from the file', async (t) => {
  const file = await yamlFile(
    t,
    `
cluster_name: Prod
num_tokens: 8
commitlog_sync: batch
commitlog_sync_period: 5s
commitlog_segment_size: 16MiB
commitlog_total_space: 1GiB
memtable_heap_space: 512KiB
compaction_throughput: 16MiB/s
hinted_handoff_enabled: false
hinted_handoff_throttle: 512KiB/s
max_hint_window: 1h
read_request_timeout: 1500ms
write_request_timeout: 2000000us
phi_convict_threshold: 12
endpoint_snitch: org.apache.cassandra.locator.GossipingPropertyFileSnitch
dc: 1
rack: r2
listen_address: 10.0.0.1
storage_port: 7010
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "10.0.0.1, 10.0.0.2:7011,[::1]:7012"
max_request_body_size: 2MiB
max_statement_length: 1000
clock_offset_ms: -250
`,
  );
  const config = loadConfig({ file });
  t.equal(config.clusterName, 'Prod');
  t.equal(config.numTokens, 8);
  t.equal(config.commitlogSync, 'batch');
  t.equal(config.commitlogSyncPeriodMs, 5000);
  t.equal(config.commitlogSegmentSizeBytes, 16 * MiB);
  t.equal(config.commitlogTotalSpaceBytes, 1024 * MiB);
  t.equal(config.memtableHeapSpaceBytes, 512 * 1024);
  t.equal(config.compactionThroughputBytesPerSecond, 16 * MiB);
  t.equal(config.hintedHandoffEnabled, false);
  t.equal(config.hintedHandoffThrottleBytesPerSecond, 512 * 1024);
  t.equal(config.maxHintWindowMs, 3_600_000);
  t.equal(config.readRequestTimeoutMs, 1500);
  t.equal(config.writeRequestTimeoutMs, 2000);
  t.equal(config.phiConvictThreshold, 12);
  t.equal(config.endpointSnitch, 'GossipingPropertyFileSnitch');
  t.equal(config.dc, '1', 'a numeric YAML name is still a name');
  t.equal(config.rack, 'r2');
  t.same(config.seeds, ['10.0.0.1:7010', '10.0.0.2:7011', '[::1]:7012'], 'seeds without a port take storage_port');
  t.equal(config.maxRequestBodySizeBytes, 2 * MiB);
  t.equal(config.maxStatementLength, 1000);
  t.equal(config.clockOffsetMs, -250);
});

t.test('a throttle of 0 turns hint replay throttling off, as in Cassandra', async (t) => {
  t.equal(loadConfig({ file: await yamlFile(t, 'hinted_handoff_throttle: 0\n') }).hintedHandoffThrottleBytesPerSecond, 0);
  t.equal(loadConfig({ file: await yamlFile(t, 'hinted_handoff_throttle: 2MiB/s\n') }).hintedHandoffThrottleBytesPerSecond, 2 * MiB);
});

t.test('plain seeds may be a comma-separated string or a YAML list', async (t) => {
  t.same(loadConfig({ file: await yamlFile(t, 'seeds: "a, b:7001"\n') }).seeds, ['a:7000', 'b:7001']);
  t.same(loadConfig({ file: await yamlFile(t, 'seeds: [a, "b:7001"]\n') }).seeds, ['a:7000', 'b:7001']);
});

t.test('data_file_directories (one entry) and data_dir both set the data directory', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sibyl-config-data-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  t.equal(loadConfig({ file: await yamlFile(t, `data_file_directories: [${dir}/a]\n`) }).dataDir, join(dir, 'a'));
  t.equal(loadConfig({ file: await yamlFile(t, `data_dir: ${dir}/b\n`) }).dataDir, join(dir, 'b'));
  configError(t, () => loadConfig({ file: join(dir, 'missing.yaml') }), /^Cannot load configuration file .*missing\.yaml/);
});

t.test('flags override the file, which overrides the defaults', async (t) => {
  const file = await yamlFile(t, 'num_tokens: 4\nhttp_port: 9000\ndc: dc-file\n');
  const config = loadConfig({ file, flags: { dc: 'dc-flag', httpAddress: '0.0.0.0' } });
  t.equal(config.dc, 'dc-flag');
  t.equal(config.numTokens, 4);
  t.equal(config.httpPort, 9000);
  t.equal(config.httpAddress, '0.0.0.0');
  t.equal(config.rack, 'rack1');
});

t.test('an empty file or a key without a value keeps the defaults', async (t) => {
  t.equal(loadConfig({ file: await yamlFile(t, '') }).numTokens, 16);
  t.equal(loadConfig({ file: await yamlFile(t, 'num_tokens:\n# a comment\n') }).numTokens, 16);
});

t.test('an unknown key stops loading with a message naming it and the file', async (t) => {
  const file = await yamlFile(t, 'num_token: 16\n');
  configError(t, () => loadConfig({ file }), `Unknown configuration key 'num_token' in ${file} (did you mean 'num_tokens'?)`);
  const unrelated = await yamlFile(t, 'flux_capacitor: on\n');
  configError(t, () => loadConfig({ file: unrelated }), `Unknown configuration key 'flux_capacitor' in ${unrelated}`);
  const legacy = await yamlFile(t, 'commitlog_sync_period_in_ms: 10000\n');
  configError(t, () => loadConfig({ file: legacy }), /'commitlog_sync_period_in_ms'.*now 'commitlog_sync_period'/);
});

t.test('a bad value stops loading with a message naming the key and what is expected', async (t) => {
  const cases: [string, string | RegExp][] = [
    ['commitlog_sync: sometimes', "Invalid value for commitlog_sync: 'sometimes' (expected periodic, batch or group)"],
    ['commitlog_sync_period: 10 seconds', /^Invalid value for commitlog_sync_period: '10 seconds' \(expected a duration/],
    ['commitlog_segment_size: 32MB', /^Invalid value for commitlog_segment_size: '32MB' \(expected a size such as 32MiB/],
    ['memtable_heap_space: 2048', /^Invalid value for memtable_heap_space: 2048 \(expected a size/],
    ['compaction_throughput: 64MiB', /^Invalid value for compaction_throughput: '64MiB' \(expected a rate/],
    ['num_tokens: 0', 'Invalid value for num_tokens: 0 (expected an integer from 1 to 1536)'],
    ['num_tokens: "16"', /^Invalid value for num_tokens: '16'/],
    ['http_port: 70000', 'Invalid value for http_port: 70000 (expected an integer from 0 to 65535)'],
    ['hinted_handoff_enabled: yes', "Invalid value for hinted_handoff_enabled: 'yes' (expected true or false)"],
    ['hinted_handoff_throttle: 1024', /^Invalid value for hinted_handoff_throttle: 1024 \(expected a rate/],
    ['hinted_handoff_throttle: 1MiB', /^Invalid value for hinted_handoff_throttle: '1MiB' \(expected a rate/],
    ['read_request_timeout: 0ms', /^Invalid value for read_request_timeout: 0 \(expected a positive amount/],
    ['phi_convict_threshold: -1', 'Invalid value for phi_convict_threshold: -1 (expected a positive number)'],
    ['endpoint_snitch: Ec2Snitch', "Invalid value for endpoint_snitch: 'Ec2Snitch' (expected SimpleSnitch or GossipingPropertyFileSnitch)"],
    ['cluster_name: ""', "Invalid value for cluster_name: '' (expected a non-empty string)"],
    ['seeds: "a:99999"', "Invalid value for seeds: 'a:99999' (expected HOST or HOST:PORT)"],
    ['data_file_directories: [/a, /b]', /^Invalid value for data_file_directories: .*exactly one directory/],
    ['seed_provider: [{class_name: Foo, parameters: [{seeds: a}]}]', /^Invalid value for seed_provider\.class_name: 'Foo'/],
  ];
  for (const [yaml, message] of cases) {
    const file = await yamlFile(t, `${yaml}\n`);
    configError(t, () => loadConfig({ file }), message);
  }
});

t.test('a bad flag value is reported under its configuration key', async (t) => {
  configError(t, () => loadConfig({ flags: { httpPort: 70000 } }), /^Invalid value for http_port: 70000/);
  configError(t, () => loadConfig({ flags: { seeds: ['bad host'] } }), /^Invalid value for seeds: 'bad host'/);
});

t.test('two keys for the same setting conflict instead of one silently winning', async (t) => {
  const file = await yamlFile(t, 'seeds: a\nseed_provider: [{class_name: SimpleSeedProvider, parameters: [{seeds: b}]}]\n');
  configError(t, () => loadConfig({ file }), /'seeds' and 'seed_provider'.*keep one/);
});

t.test('SimpleSnitch refuses a dc or rack it would ignore', async (t) => {
  const file = await yamlFile(t, 'endpoint_snitch: SimpleSnitch\n');
  t.equal(loadConfig({ file }).endpointSnitch, 'SimpleSnitch');
  configError(t, () => loadConfig({ file, flags: { dc: 'east' } }), /SimpleSnitch places every node in datacenter1\/rack1/);
});

t.test('a YAML syntax error or a non-mapping document names the file', async (t) => {
  const broken = await yamlFile(t, 'num_tokens: [1, 2\n');
  configError(t, () => loadConfig({ file: broken }), new RegExp(`^Cannot load configuration file ${broken}: `));
  const list = await yamlFile(t, '- a\n- b\n');
  configError(t, () => loadConfig({ file: list }), `Configuration file ${list} must hold a mapping of keys to values`);
});

t.test('durations, sizes and rates scale by their unit', async (t) => {
  const durationUnits: [string, number][] = [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
    ['ms', 1],
    ['us', 1e-3],
    ['µs', 1e-3],
    ['ns', 1e-6],
  ];
  const sizeUnits: [string, number][] = [
    ['B', 1],
    ['KiB', 1024],
    ['MiB', MiB],
    ['GiB', 1024 * MiB],
  ];
  propertyHolds(t, fc.check(
    fc.property(fc.nat({ max: 100_000 }), fc.constantFrom(...durationUnits), (n, [unit, ms]) => {
      return parseDuration(`${n}${unit}`) === n * ms;
    }),
    { numRuns: 200 },
  ), 'the property holds');
  propertyHolds(t, fc.check(
    fc.property(fc.nat({ max: 100_000 }), fc.constantFrom(...sizeUnits), (n, [unit, bytes]) => {
      return parseDataSize(`${n}${unit}`) === n * bytes;
    }),
    { numRuns: 200 },
  ), 'the property holds');
  propertyHolds(t, fc.check(
    fc.property(fc.nat({ max: 100_000 }), fc.constantFrom(...sizeUnits.slice(0, 3)), (n, [unit, bytes]) => {
      return parseDataRate(`${n}${unit}/s`) === n * bytes;
    }),
    { numRuns: 200 },
  ), 'the property holds');
  t.throws(() => parseDuration('5 s'), { code: 'ConfigurationError' }, 'no space between number and unit');
  t.throws(() => parseDuration('-5s'), { code: 'ConfigurationError' }, 'no negative durations');
  t.throws(() => parseDataSize('1TiB'), { code: 'ConfigurationError' }, 'units stop at GiB, as in Cassandra 4.1');
  t.throws(() => parseDataSize('99999999999999GiB'), { code: 'ConfigurationError' }, 'sizes beyond safe integers are refused');
});

t.test('addresses are HOST, HOST:PORT or [IPv6]:PORT', async (t) => {
  t.same(parseHostPort('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
  t.same(parseHostPort('node1'), { host: 'node1', port: undefined });
  t.same(parseHostPort('[::1]:8080'), { host: '::1', port: 8080 });
  t.throws(() => parseHostPort('a:b:c'), { code: 'ConfigurationError' });
  t.throws(() => parseHostPort('host:123456'), { code: 'ConfigurationError' });
  t.throws(() => parseHostPort(''), { code: 'ConfigurationError' });
});
