/**
 * Table options set in CQL reach the storage engine: the compression, chunk length and
 * bloom filter false-positive chance of the SSTables a flush writes, the table's
 * compaction strategy and gc_grace_seconds (which decide what compaction purges).
 */
import t from 'tap';
import { FaultInjectingFileSystem } from '../../lib/storage/fault-fs.js';
import { LsmStorageEngine } from '../../lib/storage/lsm/engine.js';
import type { LsmTableStore } from '../../lib/storage/lsm/table.js';
import { decodeCompressionInfo } from '../../lib/storage/sstable/format.js';
import { cqlHarness } from '../helpers/cql.js';
import { testEngineOptions } from '../helpers/lsm-options.js';

t.test('compression, bloom_filter_fp_chance, compaction and gc_grace_seconds from CREATE and ALTER TABLE', async (t) => {
  const fs = new FaultInjectingFileSystem();
  const engine = await LsmStorageEngine.open(testEngineOptions(fs, '/data', { autoCompaction: false }), []);
  t.teardown(() => engine.close());
  const h = await cqlHarness({ storage: engine });
  await h.q(
    "CREATE TABLE deflated (k int PRIMARY KEY, v text) WITH compression = {'class': 'DeflateCompressor', 'chunk_length_in_kb': 4} " +
      "AND bloom_filter_fp_chance = 0.2 AND gc_grace_seconds = 7 AND compaction = {'class': 'LeveledCompactionStrategy', 'sstable_size_in_mb': 1}",
  );
  await h.q("CREATE TABLE plain (k int PRIMARY KEY, v text) WITH compression = {'enabled': false}");
  await h.q('CREATE TABLE defaults (k int PRIMARY KEY, v text)');
  const tables = ['deflated', 'plain', 'defaults'];
  const store = (id: string) => engine.table(id) as LsmTableStore;
  const sstableOf = async (name: string) => {
    const table = h.schema.current.table('ks', name)!;
    for (let k = 0; k < 300; k++) await h.q(`INSERT INTO ${name} (k, v) VALUES (?, ?)`, [k, `value ${k} `.repeat(10)]);
    await engine.flush(table.id);
    const [sstable] = store(table.id).sstables;
    return { table, sstable, files: sstable.files };
  };
  const [deflated, plain, defaults] = await Promise.all(tables.map(sstableOf));
  t.equal(deflated.sstable.stats.compression, 'DeflateCompressor');
  t.equal(plain.sstable.stats.compression, '', 'compression disabled');
  t.equal(defaults.sstable.stats.compression, 'LZ4Compressor', 'LZ4 by default');
  const component = (files: string[], name: string) => files.find((f) => f.endsWith(`-${name}.db`))!;
  const size = async (files: string[], name: string) => (await fs.readFile(component(files, name))).length;
  const chunkLength = async (files: string[]) => {
    const path = component(files, 'CompressionInfo');
    return decodeCompressionInfo(await fs.readFile(path), path).chunkLength;
  };
  t.equal(await chunkLength(deflated.files), 4096, 'chunk_length_in_kb');
  t.equal(await chunkLength(defaults.files), 16384, '16 KiB chunks by default');
  t.ok(await size(deflated.files, 'Filter') < await size(defaults.files, 'Filter'), 'a 20% false-positive chance makes a smaller filter than 1%');
  t.equal(engine.table(deflated.table.id)!.metadata.options.gcGraceSeconds, 7);
  t.equal(engine.table(defaults.table.id)!.metadata.options.gcGraceSeconds, 864000, "Cassandra's default, ten days");
  t.equal(engine.table(deflated.table.id)!.metadata.options.compaction.class, 'LeveledCompactionStrategy');
  // ALTER TABLE reaches the engine too.
  await h.q("ALTER TABLE defaults WITH compression = {'class': 'DeflateCompressor'} AND gc_grace_seconds = 60");
  await h.q('INSERT INTO defaults (k, v) VALUES (1000, ?)', ['after the alter']);
  await engine.flush(defaults.table.id);
  const newest = store(defaults.table.id).sstables.find((s) => s !== defaults.sstable)!;
  t.equal(newest.stats.compression, 'DeflateCompressor', 'SSTables flushed after the ALTER use the new compression');
  t.equal(engine.table(defaults.table.id)!.metadata.options.gcGraceSeconds, 60);
});
