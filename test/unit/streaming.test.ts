import t, { type Test } from 'tap';
import { rangeContains, type TokenRange } from '../../lib/cluster/ring.js';
import { liveCell } from '../../lib/model/cell.js';
import { ManualClock } from '../../lib/model/clock.js';
import { buildTable, DEFAULT_TABLE_OPTIONS } from '../../lib/schema/schema.js';
import { parseTypeName } from '../../lib/schema/types.js';
import { emptyPartition, emptyRow, type PartitionUpdate } from '../../lib/model/partition.js';
import { MAX_TOKEN, MIN_TOKEN, murmur3Token } from '../../lib/model/token.js';
import { MemoryNetwork, type MemoryTransport } from '../../lib/net/memory.js';
import { ChunkBuilder, decodeChunk, encodePartition, encodePullResponse } from '../../lib/repair/stream-codec.js';
import { nonWrappingRanges, StreamError, StreamService, type StreamStats } from '../../lib/repair/streaming.js';
import type { ThrottleClock } from '../../lib/storage/compaction/throttle.js';
import { FULL_RANGE } from '../../lib/storage/engine.js';
import { ALL, type ClusterNode, int, intType, NOW, readLocal, ringEndpoints, startNode, table, update } from '../helpers/cluster.js';

const PARTITIONS = 120;

interface StreamNode extends ClusterNode {
  readonly streams: StreamService;
}

/** Three in-process nodes, each with a StreamService; options apply to every node. */
function streamingCluster(
  t: Test,
  options: { chunkBytesMax?: number; chunkTimeoutMs?: number; throughputBytesPerSecond?: number; throttleClock?: ThrottleClock } = {},
) {
  const network = new MemoryNetwork({ seed: 3 });
  const transports: MemoryTransport[] = [];
  // Closing every transport (fake peers included) fails requests still waiting on a timer.
  t.teardown(() => Promise.all(transports.map((transport) => transport.close())));
  const endpoints = ringEndpoints([{ id: 'host-a' }, { id: 'host-b' }, { id: 'host-c' }]);
  const nodes: StreamNode[] = endpoints.map((endpoint) => {
    const node = startNode(network, endpoint, endpoints);
    const streams = new StreamService({
      transport: node.transport,
      storage: node.storage,
      view: node.view,
      clock: new ManualClock(NOW * 1000),
      throughputBytesPerSecond: options.throughputBytesPerSecond ?? 0,
      chunkTimeoutMs: options.chunkTimeoutMs,
      chunkBytesMax: options.chunkBytesMax,
      throttleClock: options.throttleClock,
    });
    streams.register();
    transports.push(node.transport);
    return { ...node, streams };
  });
  /** A fake peer at `address`, closed with the cluster. */
  const join = (address: string): MemoryTransport => {
    const transport = network.join(address);
    transports.push(transport);
    return transport;
  };
  return { network, nodes, join };
}

/** Writes partitions 0..count-1 (two rows each) to `node`. */
async function fill(node: ClusterNode, count = PARTITIONS, timestamp = 1000): Promise<void> {
  const updates: PartitionUpdate[] = [];
  for (let pk = 0; pk < count; pk++) updates.push(update(pk, [[1, `a${pk}`], [2, `b${pk}`]], timestamp));
  await node.storage.apply(updates);
}

/** The partition keys `node` holds, sorted. */
async function keysHeld(node: ClusterNode): Promise<number[]> {
  const keys: number[] = [];
  for await (const partition of node.storage.table(table.id)!.scan(FULL_RANGE, ALL)) keys.push(intType.deserialize(partition.key) as number);
  return keys.sort((a, b) => a - b);
}

const tokenOf = (pk: number): bigint => murmur3Token(int(pk));
/** Tokens of partitions 0..PARTITIONS-1 in ring order. */
const sortedTokens = Array.from({ length: PARTITIONS }, (_, pk) => tokenOf(pk)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
const expectedKeys = (ranges: readonly TokenRange[]): number[] =>
  Array.from({ length: PARTITIONS }, (_, pk) => pk).filter((pk) => ranges.some((range) => rangeContains(range, tokenOf(pk))));

/** A middle range and a range wrapping around the end of the ring, both cutting between partitions. */
const someRanges: TokenRange[] = [
  { start: sortedTokens[20], end: sortedTokens[50] },
  { start: sortedTokens[100], end: sortedTokens[10] },
];

t.test('nonWrappingRanges splits wrapping ranges and reads start === end as the whole ring', async (t) => {
  t.same(nonWrappingRanges([{ start: 5n, end: 9n }]), [{ start: 5n, end: 9n }]);
  t.same(nonWrappingRanges([{ start: 9n, end: 5n }]), [
    { start: 9n, end: MAX_TOKEN },
    { start: MIN_TOKEN, end: 5n },
  ]);
  t.same(nonWrappingRanges([{ start: 7n, end: 7n }]), [{ start: MIN_TOKEN, end: MAX_TOKEN }]);
  t.same(nonWrappingRanges([{ start: MAX_TOKEN, end: MIN_TOKEN }]), [], 'a wrapping range holding no token yields no piece');
});

t.test('pull copies exactly the partitions whose tokens lie in the ranges, in many checksummed chunks', async (t) => {
  const { nodes } = streamingCluster(t, { chunkBytesMax: 200 });
  const [a, b] = nodes;
  await fill(a);
  const progress: StreamStats[] = [];
  const stats = await b.streams.pull(a.endpoint, table.id, someRanges, (chunk) => void progress.push(chunk));
  const expected = expectedKeys(someRanges);
  t.ok(expected.length > 30 && expected.length < PARTITIONS - 30, 'the ranges hold some partitions, not all');
  t.same(await keysHeld(b), expected);
  t.equal(stats.partitions, expected.length);
  t.ok(progress.length > 10, `many chunks (${progress.length})`);
  t.same(
    progress.reduce((sum, chunk) => ({ partitions: sum.partitions + chunk.partitions, bytes: sum.bytes + chunk.bytes }), { partitions: 0, bytes: 0 }),
    stats,
    'progress callbacks add up to the returned stats',
  );
  const copied = await readLocal(b, expected[0]);
  t.same(
    copied!.rows.map((row) => row.cells.get('v')!.value!.toString()),
    [`a${expected[0]}`, `b${expected[0]}`],
    'rows arrive intact',
  );
});

t.test('push sends exactly the partitions whose tokens lie in the ranges', async (t) => {
  const { nodes } = streamingCluster(t, { chunkBytesMax: 300 });
  const [a, b] = nodes;
  await fill(a);
  const progress: StreamStats[] = [];
  const stats = await a.streams.push(b.endpoint, table.id, someRanges, (chunk) => void progress.push(chunk));
  const expected = expectedKeys(someRanges);
  t.same(await keysHeld(b), expected);
  t.equal(stats.partitions, expected.length);
  t.ok(progress.length > 5, `many chunks (${progress.length})`);
  t.equal(
    progress.reduce((sum, chunk) => sum + chunk.bytes, 0),
    stats.bytes,
  );
});

t.test('a range with start === end streams the whole ring, both ways', async (t) => {
  const { nodes } = streamingCluster(t);
  const [a, b, c] = nodes;
  await fill(a);
  const whole = [{ start: 42n, end: 42n }];
  const pulled = await b.streams.pull(a.endpoint, table.id, whole);
  const pushed = await a.streams.push(c.endpoint, table.id, whole);
  const all = Array.from({ length: PARTITIONS }, (_, pk) => pk);
  t.same(await keysHeld(b), all);
  t.same(await keysHeld(c), all);
  t.equal(pulled.partitions, PARTITIONS);
  t.equal(pushed.partitions, PARTITIONS);
});

t.test('a partition larger than the chunk limit travels alone', async (t) => {
  const { nodes } = streamingCluster(t, { chunkBytesMax: 64 });
  const [a, b] = nodes;
  await a.storage.apply([update(1, [[1, 'x'.repeat(1000)]]), update(2, [[1, 'y']])]);
  const progress: StreamStats[] = [];
  await b.streams.pull(a.endpoint, table.id, [{ start: 0n, end: 0n }], (chunk) => void progress.push(chunk));
  t.same(await keysHeld(b), [1, 2]);
  t.same(
    progress.map((chunk) => chunk.partitions),
    [1, 1],
  );
  t.ok(progress.some((chunk) => chunk.bytes > 1000));
});

t.test('a wide partition travels in pieces of rows, a pull resuming inside it, and arrives whole', async (t) => {
  const { nodes } = streamingCluster(t, { chunkBytesMax: 3000 });
  const [a, b, c] = nodes;
  const rows = Array.from({ length: 500 }, (_, ck) => [ck, `row ${ck} `.padEnd(60, '.')] as const);
  const wide = update(7, rows);
  wide.partition.deletion = { markedForDeleteAt: 10, localDeletionTime: NOW };
  wide.partition.staticRow = emptyRow([]);
  await a.storage.apply([wide, update(1, [[1, 'one']]), update(2, [[1, 'two']])]);
  const whole = await readLocal(a, 7);
  const chunks: StreamStats[] = [];
  const pulled = await b.streams.pull(a.endpoint, table.id, [{ start: 0n, end: 0n }], (chunk) => void chunks.push(chunk));
  t.same(await readLocal(b, 7), whole, 'pulled: every row, and the partition deletion');
  t.equal(pulled.partitions, 3, 'the wide partition counts once');
  // 500 rows of ~75 bytes: pieces of 64 rows (~4.8 KB) each travel alone in chunks of
  // 3000 bytes, so the partition spans 8 chunks and every pull after the first of it
  // resumed inside it.
  t.ok(chunks.length >= 8, `${chunks.length} chunks`);
  t.ok(chunks.every((chunk) => chunk.bytes < 64 * 100), 'no chunk over a piece of 64 rows');
  const pushed = await a.streams.push(c.endpoint, table.id, [{ start: 0n, end: 0n }]);
  t.same(await readLocal(c, 7), whole, 'pushed: the same');
  t.equal(pushed.partitions, 3);
});

t.test('a table without clustering columns streams over many chunks (its rows have an empty clustering)', async (t) => {
  const { nodes } = streamingCluster(t, { chunkBytesMax: 200 });
  const [a, b] = nodes;
  const skinny = buildTable({
    keyspace: 'ks',
    name: 'skinny',
    columns: [
      { name: 'pk', type: intType, kind: 'partition_key' },
      { name: 'v', type: parseTypeName('text'), kind: 'regular' },
    ],
    options: DEFAULT_TABLE_OPTIONS,
  });
  for (const node of [a, b]) node.storage.openTable(skinny);
  const updates = Array.from({ length: 50 }, (_, pk) => {
    const partition = emptyPartition(int(pk), tokenOf(pk));
    const row = emptyRow([]);
    row.cells.set('v', liveCell(1000, Buffer.from(`value ${pk}`), 0, NOW));
    partition.rows.push(row);
    return { tableId: skinny.id, partition };
  });
  await a.storage.apply(updates);
  const chunks: StreamStats[] = [];
  const stats = await b.streams.pull(a.endpoint, skinny.id, [{ start: 0n, end: 0n }], (chunk) => void chunks.push(chunk));
  t.equal(stats.partitions, 50);
  t.ok(chunks.length > 5, `${chunks.length} chunks`);
  let held = 0;
  for await (const _ of b.storage.table(skinny.id)!.scan(FULL_RANGE, ALL)) held++;
  t.equal(held, 50);
});

t.test('a pull refuses pieces that go back inside a partition', async (t) => {
  const { nodes, join } = streamingCluster(t);
  const [, b] = nodes;
  const fake = join('127.0.0.7:7000');
  const piece = (cks: number[]) => encodePartition(table.id, update(7, cks.map((ck) => [ck, 'x'] as const)).partition);
  // The first piece ends at row 5; the next one of the same partition starts at row 3.
  fake.onMessage('STREAM_PULL', async () => {
    const builder = new ChunkBuilder(1 << 20);
    builder.add(piece([1, 5]));
    builder.add(piece([3, 9]), false);
    return encodePullResponse({ chunk: builder.finish(), done: true });
  });
  await t.rejects(b.streams.pull({ id: 'fake', address: fake.address }, table.id, [{ start: 0n, end: 0n }]), /out of order/);
  t.equal(await readLocal(b, 7), null, 'nothing of the chunk applied');
});

t.test('a partition deletion and a row tombstone travel and win on the receiver', async (t) => {
  const { nodes } = streamingCluster(t);
  const [a, b, c] = nodes;
  // The receivers hold older live data; the sender holds newer deletions of it.
  for (const receiver of [b, c]) await receiver.storage.apply([update(1, [[1, 'old']]), update(2, [[1, 'old'], [2, 'kept']])]);
  const deleted = emptyPartition(int(1), tokenOf(1));
  deleted.deletion = { markedForDeleteAt: 2000, localDeletionTime: NOW };
  const rowDeleted = emptyPartition(int(2), tokenOf(2));
  const row = emptyRow([int(1)]);
  row.deletion = { markedForDeleteAt: 2000, localDeletionTime: NOW };
  rowDeleted.rows.push(row);
  await a.storage.apply([
    { tableId: table.id, partition: deleted },
    { tableId: table.id, partition: rowDeleted },
  ]);
  const whole = [{ start: 0n, end: 0n }];
  t.equal((await b.streams.pull(a.endpoint, table.id, whole)).partitions, 2, 'tombstone-only partitions are streamed');
  t.equal((await a.streams.push(c.endpoint, table.id, whole)).partitions, 2);
  for (const receiver of [b, c]) {
    const one = await readLocal(receiver, 1);
    t.equal(one!.deletion?.markedForDeleteAt, 2000, 'the partition deletion arrived');
    t.same(one!.rows, [], 'and shadows the older rows');
    const two = await readLocal(receiver, 2);
    t.same(
      two!.rows.filter((r) => r.cells.size > 0).map((r) => intType.deserialize(r.clustering[0])),
      [2],
      'the row tombstone shadows the older row and leaves the other',
    );
  }
});

t.test('a damaged chunk is refused by the codec, naming peer and table', async (t) => {
  const builder = new ChunkBuilder(1024);
  builder.add(encodePartition(table.id, update(1, [[1, 'x']]).partition));
  const chunk = builder.finish();
  t.equal(decodeChunk(chunk, table.id, '10.0.0.9:7000').length, 1);
  const damaged = Buffer.from(chunk.bytes);
  damaged[damaged.length - 1] ^= 0x01;
  t.throws(() => decodeChunk({ bytes: damaged, crc: chunk.crc }, table.id, '10.0.0.9:7000'), /damaged stream chunk of table .* from \/10\.0\.0\.9:7000/);
  t.throws(() => decodeChunk(chunk, 'another-table', '10.0.0.9:7000'), /holds a partition of table/);
});

t.test('a pull refuses a damaged chunk from the wire and applies nothing of it', async (t) => {
  const { nodes, join } = streamingCluster(t);
  const b = nodes[1];
  // A fake peer answering every pull with a chunk whose checksum does not match.
  const liar = join('127.0.0.9:7000');
  const builder = new ChunkBuilder(1024);
  builder.add(encodePartition(table.id, update(1, [[1, 'x']]).partition));
  const chunk = builder.finish();
  liar.onMessage('STREAM_PULL', () => encodePullResponse({ chunk: { bytes: chunk.bytes, crc: chunk.crc ^ 1 }, done: true }));
  const error = await b.streams.pull({ id: 'liar', address: liar.address }, table.id, [{ start: 0n, end: 0n }]).catch((e: unknown) => e);
  t.type(error, StreamError);
  t.match((error as StreamError).message, /damaged stream chunk of table .* from \/127\.0\.0\.9:7000/);
  t.same((error as StreamError).stats, { partitions: 0, bytes: 0 });
  t.same(await keysHeld(b), []);
});

t.test('a peer convicted mid-stream fails the stream at once with what moved so far', async (t) => {
  const { nodes, join } = streamingCluster(t, { chunkBytesMax: 200, chunkTimeoutMs: 60_000 });
  const [a, b] = nodes;
  await fill(a);
  // Down after the first chunk: the next request is never sent.
  const error = await b.streams
    .pull(a.endpoint, table.id, [{ start: 0n, end: 0n }], () => b.view.setAlive(a.endpoint.id, false))
    .catch((e: unknown) => e);
  t.type(error, StreamError);
  t.match((error as StreamError).message, /convicted/);
  t.ok((error as StreamError).stats.partitions > 0 && (error as StreamError).stats.partitions < PARTITIONS, 'stats carry the first chunk');

  // Down while a request is unanswered (a peer that never answers): no wait for the 60 s timeout.
  const silent = join('127.0.0.8:7000');
  silent.onMessage('STREAM_PULL', () => new Promise<never>(() => undefined));
  const started = performance.now();
  const pending = b.streams.pull({ id: 'silent', address: silent.address }, table.id, [{ start: 0n, end: 0n }]);
  setTimeout(() => b.view.setAlive('silent', false), 20);
  await t.rejects(pending, StreamError);
  t.ok(performance.now() - started < 5000, 'rejected promptly');

  // A peer already down: refused before anything is sent.
  await t.rejects(b.streams.push({ id: 'silent', address: silent.address }, table.id, [{ start: 0n, end: 0n }]), /is down/);
});

t.test('a network partition fails the stream after the chunk timeout', async (t) => {
  const { network, nodes } = streamingCluster(t, { chunkTimeoutMs: 100 });
  const [a, b] = nodes;
  await fill(a, 10);
  network.partition([a.endpoint.address], [b.endpoint.address]);
  const error = await b.streams.pull(a.endpoint, table.id, [{ start: 0n, end: 0n }]).catch((e: unknown) => e);
  t.type(error, StreamError);
  t.match((error as StreamError).message, /timed out/);
  await t.rejects(a.streams.push(b.endpoint, table.id, [{ start: 0n, end: 0n }]), StreamError);
});

t.test('a table unknown to either side fails the stream with a clear error', async (t) => {
  const { nodes } = streamingCluster(t);
  const [a, b] = nodes;
  await fill(a, 5);
  await t.rejects(b.streams.pull(a.endpoint, 'no-such-table', [{ start: 0n, end: 0n }]), /table no-such-table is unknown on this node/);
  await b.storage.dropTable(table.id);
  await t.rejects(a.streams.push(b.endpoint, table.id, [{ start: 0n, end: 0n }]), /the table is unknown on \/127\.0\.0\.2:7000/);
});

t.test('fetchInto makes another node pull the ranges from each source', async (t) => {
  const { nodes } = streamingCluster(t, { chunkBytesMax: 500 });
  const [a, b, c] = nodes;
  await fill(a, 60);
  await b.storage.apply([update(1000, [[1, 'from b']])]);
  const whole = [{ start: 0n, end: 0n }];
  const stats = await a.streams.fetchInto(c.endpoint, [a.endpoint, b.endpoint], table.id, whole);
  t.same(stats.partitions, 61);
  t.same(await keysHeld(c), [...Array.from({ length: 60 }, (_, pk) => pk), 1000]);

  // The local node as the target runs the pulls itself.
  const local = await b.streams.fetchInto(b.endpoint, [a.endpoint], table.id, [someRanges[0]]);
  t.equal(local.partitions, expectedKeys([someRanges[0]]).filter((pk) => pk < 60).length);

  // A source that is down fails the fetch on the target, and the error comes back.
  c.view.setAlive(b.endpoint.id, false);
  await t.rejects(a.streams.fetchInto(c.endpoint, [b.endpoint], table.id, whole), /is down/);
});

t.test('outgoing streams are throttled to stream_throughput_outbound', async (t) => {
  // A virtual clock: the throttle's waits move it forward instead of sleeping.
  let nowMs = 0;
  const throttleClock: ThrottleClock = {
    nowMillis: () => nowMs,
    sleep: async (ms) => void (nowMs += ms),
  };
  const rate = 1024;
  const { nodes } = streamingCluster(t, { chunkBytesMax: 1024, throughputBytesPerSecond: rate, throttleClock });
  const [a, b, c] = nodes;
  await fill(a);
  const pushed = await a.streams.push(b.endpoint, table.id, [{ start: 0n, end: 0n }]);
  const pushSeconds = nowMs / 1000;
  t.ok(pushed.bytes > 4 * rate, 'several seconds of data');
  // The bucket starts empty and may hold one second's worth: the time spent is at least bytes/rate - 1 s.
  t.ok(pushSeconds >= pushed.bytes / rate - 1, `push took ${pushSeconds} virtual s for ${pushed.bytes} bytes`);
  t.ok(pushSeconds <= pushed.bytes / rate + 1, 'and not much longer');

  const started = nowMs;
  const pulled = await c.streams.pull(a.endpoint, table.id, [{ start: 0n, end: 0n }]);
  const pullSeconds = (nowMs - started) / 1000;
  t.ok(pullSeconds >= pulled.bytes / rate - 1.5, `the pull's sender throttled: ${pullSeconds} virtual s for ${pulled.bytes} bytes`);
});
