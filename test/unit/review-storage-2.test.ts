/**
 * Review of the SSTable writer's background batches (lib/storage/sstable/writer.ts): the
 * bytes land where the offsets say whatever the write latency, no file operation runs
 * under a write in flight, a failed write surfaces (not as an unhandled rejection), and
 * abort() waits for the write in flight.
 */
import t, { type Test } from 'tap';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NO_DELETION_TIME, type Cell } from '../../lib/model/cell.js';
import { ALL_ROWS } from '../../lib/model/clustering.js';
import type { Partition, Row } from '../../lib/model/partition.js';
import { compareKeys, murmur3Token } from '../../lib/model/token.js';
import { seededRandom } from '../../lib/model/random.js';
import { DEFAULT_TABLE_OPTIONS, buildTable } from '../../lib/schema/schema.js';
import type { CompressionOptions, TableMetadata } from '../../lib/schema/metadata.js';
import { parseTypeName } from '../../lib/schema/types.js';
import { FULL_RANGE } from '../../lib/storage/engine.js';
import type { FileHandle, OpenMode } from '../../lib/storage/fs.js';
import { NodeFileSystem } from '../../lib/storage/node-fs.js';
import { SSTableWriter } from '../../lib/storage/sstable/writer.js';


async function tempDir(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sibyl-review-sstable-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function makeTable(compression: CompressionOptions): TableMetadata {
  return buildTable({
    keyspace: 'ks',
    name: 't',
    columns: [
      { name: 'pk', type: parseTypeName('int'), kind: 'partition_key' },
      { name: 'ck', type: parseTypeName('int'), kind: 'clustering', order: 'ASC' },
      { name: 'v', type: parseTypeName('blob'), kind: 'regular' },
    ],
    options: { ...DEFAULT_TABLE_OPTIONS, compression },
  });
}

const int = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};

/** ~`bytes` of data in partitions with random-sized, half-random (poorly compressible) values. */
function partitions(seed: number, count: number, rowsMax: number): Partition[] {
  const next = seededRandom(seed);
  const below = (n: number) => Math.floor(next() * n);
  const out: Partition[] = [];
  for (let p = 0; p < count; p++) {
    const key = int(p * 7919 - 1_000_000);
    const rows: Row[] = [];
    const rowCount = 1 + below(rowsMax);
    for (let r = 0; r < rowCount; r++) {
      const value = Buffer.alloc(below(next() < 0.02 ? 40_000 : 600));
      for (let i = 0; i < value.length; i++) value[i] = i % 2 === 0 ? below(256) : 0;
      const cell: Cell = { timestamp: 1_700_000_000_000_000 + below(1000), value, ttl: 0, localDeletionTime: NO_DELETION_TIME };
      rows.push({ clustering: [int(r)], liveness: null, deletion: null, cells: new Map([['v', cell]]), complex: new Map() });
    }
    out.push({ key, token: murmur3Token(key), deletion: null, staticRow: null, rangeTombstones: [], rows });
  }
  return out.sort((a, b) => compareKeys(a.token, a.key, b.token, b.key));
}

/** A file system whose writes take a few milliseconds and which fails the test if any
 *  operation on a handle starts while a write to it is still under way. */
class SlowWritesFileSystem extends NodeFileSystem {
  readonly violations: string[] = [];
  writes = 0;
  constructor(private readonly random: () => number) {
    super();
  }

  override async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const handle = await super.open(path, mode);
    let writing = 0;
    const guard = (operation: string) => {
      if (writing > 0) this.violations.push(`${operation} of ${path} while a write is under way`);
    };
    return {
      path: handle.path,
      read: (buffer, offset, length, position) => handle.read(buffer, offset, length, position),
      write: async (buffer, position) => {
        guard('write');
        writing++;
        this.writes++;
        // A copy now: the writer must not change the bytes it handed over.
        const copy = Buffer.from(buffer);
        await new Promise((resolve) => setTimeout(resolve, Math.floor(this.random() * 4)));
        if (!copy.equals(buffer)) this.violations.push(`the bytes of a write to ${path} changed while it was under way`);
        try {
          await handle.write(buffer, position);
        } finally {
          writing--;
        }
      },
      sync: async () => {
        guard('sync');
        await handle.sync();
      },
      size: () => handle.size(),
      truncate: (length) => handle.truncate(length),
      close: async () => {
        guard('close');
        await handle.close();
      },
    };
  }
}

/** Every row's value, partition by partition, as the reader returns them. */
async function contents(reader: { scan(range: typeof FULL_RANGE): AsyncIterable<{ key: Buffer; rows(slices: readonly (typeof ALL_ROWS)[], reversed: boolean): AsyncIterable<Row> }> }): Promise<string[]> {
  const out: string[] = [];
  for await (const partition of reader.scan(FULL_RANGE)) {
    for await (const row of partition.rows([ALL_ROWS], false)) {
      out.push(`${partition.key.toString('hex')}/${row.clustering[0].toString('hex')}=${row.cells.get('v')!.value!.toString('base64')}`);
    }
  }
  return out;
}

const expected = (written: readonly Partition[]): string[] =>
  written.flatMap((p) => p.rows.map((row) => `${p.key.toString('hex')}/${row.clustering[0].toString('hex')}=${row.cells.get('v')!.value!.toString('base64')}`));

const COMPRESSIONS: [string, CompressionOptions][] = [
  ['lz4, 16 KiB chunks', { class: 'LZ4Compressor', chunkLengthKb: 16, enabled: true }],
  ['none, 1 KiB chunks', { class: '', chunkLengthKb: 1, enabled: false }],
  ['deflate, 64 KiB chunks', { class: 'DeflateCompressor', chunkLengthKb: 64, enabled: true }],
];

for (const [name, compression] of COMPRESSIONS) {
  t.test(`many batches written while encoding goes on read back exactly; nothing touches a file under a write (${name})`, async (t) => {
    const dir = await tempDir(t);
    const fs = new SlowWritesFileSystem(seededRandom(3));
    const table = makeTable(compression);
    const written = partitions(11, 3000, 8);
    const writer = await SSTableWriter.create(fs, dir, 1, table, { expectedPartitions: written.length });
    // Half through append, half through the per-row calls compaction uses.
    for (let i = 0; i < written.length; i++) {
      const p = written[i];
      if (i % 2 === 0) {
        await writer.append(p);
      } else {
        await writer.startPartition(p);
        for (const row of p.rows) await writer.addRow(row);
        await writer.endPartition();
      }
    }
    const reader = await writer.finish();
    t.teardown(() => reader.close());
    t.ok(fs.writes > 4, `several batches were written (${fs.writes} writes)`);
    t.same(fs.violations, [], 'no write, sync or close of a file while a write to it is under way');
    t.same(await contents(reader as never), expected(written), 'every row reads back');
    let found = 0;
    for (const p of written) if ((await reader.get(p.key, p.token)) !== null) found++;
    t.equal(found, written.length, 'point reads find every partition');
  });
}

t.test('a background write that fails is reported by a later call, never as an unhandled rejection, and abort removes everything', async (t) => {
  const { FaultInjectingFileSystem } = await import('../../lib/storage/fault-fs.js');
  const faulty = new FaultInjectingFileSystem();
  const table = makeTable({ class: '', chunkLengthKb: 4, enabled: false });
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  t.teardown(() => process.off('unhandledRejection', onUnhandled));
  const written = partitions(5, 2000, 6);
  const writer = await SSTableWriter.create(faulty, '/sst', 1, table, { expectedPartitions: written.length });
  faulty.failNextWrite(/Data/);
  let failed: unknown = null;
  try {
    for (const p of written) await writer.append(p);
    await writer.finish();
  } catch (error) {
    failed = error;
  }
  t.match(failed, { code: 'EIO' }, 'the write failure surfaces');
  await writer.abort();
  t.same(await faulty.readdir('/sst'), [], 'abort removed every file');
  await new Promise((resolve) => setImmediate(resolve));
  t.same(unhandled, [], 'no unhandled rejection');
});

t.test('abort() called while a batch write is under way waits for it before closing the files', async (t) => {
  const dir = await tempDir(t);
  const fs = new SlowWritesFileSystem(() => 0.99);
  const table = makeTable({ class: '', chunkLengthKb: 4, enabled: false });
  const written = partitions(9, 2000, 6);
  const writer = await SSTableWriter.create(fs, dir, 1, table, { expectedPartitions: written.length });
  for (const p of written.slice(0, 1500)) await writer.append(p);
  await writer.abort();
  t.same(fs.violations, [], 'no close under a write');
  t.same(await readdir(dir), [], 'nothing left');
});
