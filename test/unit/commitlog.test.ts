import t, { type Test } from 'tap';
import fc from 'fast-check';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { InvalidRequest } from '../../lib/errors.js';
import { seededRandom } from '../../lib/model/random.js';
import {
  CommitLog,
  CommitLogCorruption,
  type CommitLogOptions,
  type CommitLogPosition,
  comparePositions,
} from '../../lib/storage/commitlog/commitlog.js';
import { SEGMENT_HEADER_BYTES, segmentFileName } from '../../lib/storage/commitlog/format.js';
import { crc32c, crc32cOfUint32LE } from '../../lib/storage/crc.js';
import { FaultInjectingFileSystem } from '../../lib/storage/fault-fs.js';
import type { FileHandle, FileSystem, OpenMode } from '../../lib/storage/fs.js';
import { NodeFileSystem } from '../../lib/storage/node-fs.js';
import { propertyHolds } from '../helpers/property.js';

const SEGMENT_BYTES = 64 * 1024;

interface Setup {
  fs: FileSystem;
  dir: string;
}

const SETUPS: { name: string; make(t: Test): Promise<Setup> }[] = [
  {
    name: 'real file system',
    async make(t) {
      const root = await mkdtemp(join(tmpdir(), 'sibyl-commitlog-'));
      t.teardown(() => rm(root, { recursive: true, force: true }));
      return { fs: new NodeFileSystem(), dir: join(root, 'commitlog') };
    },
  },
  {
    name: 'fault-injecting file system',
    async make() {
      return { fs: new FaultInjectingFileSystem(), dir: '/var/sibyl/commitlog' };
    },
  },
];

/** Distinct payloads of 50..2000 bytes; byte 0 names the table ('A', 'B' …), bytes 1..4 the index. */
function makePayloads(count: number, seed: number, table = (_index: number) => 'A', size?: number): Buffer[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, (_, index) => {
    const payload = Buffer.alloc(size ?? 50 + Math.floor(random() * 1950));
    for (let i = 0; i < payload.length; i++) payload[i] = Math.floor(random() * 256);
    payload[0] = table(index).charCodeAt(0);
    payload.writeUInt32LE(index, 1);
    return payload;
  });
}

function tableOf(payload: Buffer): string {
  return String.fromCharCode(payload[0]);
}

interface Captured {
  warnings: { obj: Record<string, unknown>; msg: string }[];
  logger: NonNullable<CommitLogOptions['logger']>;
}

function captureLogs(): Captured {
  const warnings: Captured['warnings'] = [];
  return { warnings, logger: { warn: (obj, msg) => warnings.push({ obj: obj as Record<string, unknown>, msg }), info() {} } };
}

function openLog(setup: Setup, options: Partial<CommitLogOptions> = {}): Promise<CommitLog> {
  return CommitLog.open({ fs: setup.fs, dir: setup.dir, sync: 'periodic', segmentBytes: SEGMENT_BYTES, ...options });
}

/** Opens a fresh log on the setup and replays it, naming each record's table as the engine would. */
async function reopenAndReplay(setup: Setup, options: Partial<CommitLogOptions> = {}) {
  const log = await openLog(setup, options);
  const records: Buffer[] = [];
  const positions: CommitLogPosition[] = [];
  const report = await log.replay((payload, position) => {
    records.push(Buffer.from(payload));
    positions.push(position);
    return [tableOf(payload)];
  });
  return { log, records, positions, report };
}

/** Overwrites bytes of a file through the FileSystem interface (what a bad disk or a careless operator does). */
async function overwrite(fs: FileSystem, file: string, position: number, bytes: Buffer): Promise<void> {
  const handle = await fs.open(file, 'r+');
  await handle.write(bytes, position);
  await handle.sync();
  await handle.close();
}

async function readByte(fs: FileSystem, file: string, position: number): Promise<number> {
  const handle = await fs.open(file, 'r');
  const byte = Buffer.alloc(1);
  await handle.read(byte, 0, 1, position);
  await handle.close();
  return byte[0];
}

function hexes(buffers: Buffer[]): string[] {
  return buffers.map((buffer) => buffer.toString('hex'));
}

/** Counts writes and syncs going through to another file system. */
class CountingFileSystem implements FileSystem {
  writes = 0;
  bytesWritten = 0;
  /** fsyncs, and writes made durable in the same step (writeSynced), of which: */
  syncs = 0;
  syncedWrites = 0;
  constructor(private readonly inner: FileSystem) {}
  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const handle = await this.inner.open(path, mode);
    return {
      path: handle.path,
      read: (buffer, offset, length, position) => handle.read(buffer, offset, length, position),
      write: (buffer, position) => {
        this.writes++;
        this.bytesWritten += buffer.length;
        return handle.write(buffer, position);
      },
      sync: () => {
        this.syncs++;
        return handle.sync();
      },
      writeSynced:
        handle.writeSynced === undefined
          ? undefined
          : (buffer, position) => {
              this.writes++;
              this.bytesWritten += buffer.length;
              this.syncs++;
              this.syncedWrites++;
              return handle.writeSynced!(buffer, position);
            },
      size: () => handle.size(),
      truncate: (length) => handle.truncate(length),
      close: () => handle.close(),
    };
  }
  readFile = (path: string) => this.inner.readFile(path);
  writeFile = (path: string, data: Buffer) => this.inner.writeFile(path, data);
  rename = (from: string, to: string) => this.inner.rename(from, to);
  unlink = (path: string) => this.inner.unlink(path);
  readdir = (dir: string) => this.inner.readdir(dir);
  mkdir = (dir: string) => this.inner.mkdir(dir);
  exists = (path: string) => this.inner.exists(path);
  size = (path: string) => this.inner.size(path);
  syncDir = (dir: string) => this.inner.syncDir(dir);
}

t.test('the length checksum helper agrees with CRC32C of the four little-endian bytes', async () => {
  propertyHolds(t, fc.check(
    fc.property(fc.integer({ min: 0, max: 0xffffffff }), (value) => {
      const bytes = Buffer.alloc(4);
      bytes.writeUInt32LE(value);
      return crc32cOfUint32LE(value) === crc32c(bytes);
    }),
    { numRuns: 2000 },
  ), 'the property holds');
  t.equal(crc32c(Buffer.from('123456789')), 0xe3069283, 'the standard CRC32C check value');
});

t.test('positions order by segment id, then offset', async (t) => {
  t.ok(comparePositions({ segmentId: 1, offset: 900 }, { segmentId: 2, offset: 20 }) < 0);
  t.ok(comparePositions({ segmentId: 2, offset: 30 }, { segmentId: 2, offset: 20 }) > 0);
  t.equal(comparePositions({ segmentId: 2, offset: 20 }, { segmentId: 2, offset: 20 }), 0);
});

for (const kind of SETUPS) {
  t.test(`records appended across several segments replay in order, byte for byte (${kind.name})`, async (t) => {
    const setup = await kind.make(t);
    const log = await openLog(setup);
    t.same(await log.replay(() => []), { segments: 0, records: 0, bytes: 0, skippedCorrupt: 0, droppedTornTail: null });
    const payloads = makePayloads(240, 1, (index) => (index % 3 === 0 ? 'B' : 'A'));
    // Half in one turn (coalesced into shared writes), half one at a time.
    const positions = await Promise.all(payloads.slice(0, 120).map((payload) => log.append(payload, [tableOf(payload)])));
    for (const payload of payloads.slice(120)) positions.push(await log.append(payload, [tableOf(payload)]));
    for (let i = 1; i < positions.length; i++) t.ok(comparePositions(positions[i - 1], positions[i]) < 0, `position ${i} increases`);
    t.same(log.currentPosition(), positions[positions.length - 1]);
    const segments = log.segmentCount();
    t.ok(segments >= 4, `rolled over into ${segments} segments`);
    t.equal(log.usedBytes(), segments * SEGMENT_BYTES);
    await log.close();
    t.equal((await setup.fs.readdir(setup.dir)).length, segments);

    const { log: again, records, positions: replayedAt, report } = await reopenAndReplay(setup);
    t.same(hexes(records), hexes(payloads));
    t.same(replayedAt, positions, 'replay reports the positions append returned');
    t.equal(report.segments, segments);
    t.equal(report.records, payloads.length);
    t.equal(report.bytes, payloads.reduce((sum, payload) => sum + payload.length + 12, 0));
    t.equal(report.droppedTornTail, null);
    const next = await again.append(Buffer.from('after restart'), ['A']);
    t.ok(next.segmentId > positions[positions.length - 1].segmentId, 'new appends go to a fresh segment');
    await again.close();
  });

  t.test(`replay is idempotent: replaying again yields the same records (${kind.name})`, async (t) => {
    const setup = await kind.make(t);
    const log = await openLog(setup);
    await log.replay(() => []);
    const payloads = makePayloads(100, 2);
    for (const payload of payloads) void log.append(payload, ['A']);
    await log.close();
    const first = await reopenAndReplay(setup);
    const sameInstance: Buffer[] = [];
    await first.log.replay((payload) => {
      sameInstance.push(Buffer.from(payload));
      return ['A'];
    });
    await first.log.close();
    const second = await reopenAndReplay(setup);
    await second.log.close();
    t.same(hexes(first.records), hexes(payloads));
    t.same(hexes(sameInstance), hexes(payloads));
    t.same(hexes(second.records), hexes(payloads));
    t.same(second.positions, first.positions);
  });

  t.test(`a torn tail written by hand is dropped with a warning naming file and offset (${kind.name})`, async (t) => {
    for (const damage of ['cut short', 'garbled payload'] as const) {
      const setup = await kind.make(t);
      const log = await openLog(setup);
      await log.replay(() => []);
      const payloads = makePayloads(10, 3);
      const positions: CommitLogPosition[] = [];
      for (const payload of payloads) positions.push(await log.append(payload, ['A']));
      await log.close();
      const last = positions[9];
      const lastStart = positions[8].offset;
      const file = join(setup.dir, segmentFileName(last.segmentId));
      if (damage === 'cut short') await overwrite(setup.fs, file, last.offset - 9, Buffer.alloc(9));
      else await overwrite(setup.fs, file, lastStart + 20, Buffer.from([(await readByte(setup.fs, file, lastStart + 20)) ^ 0x40]));

      const logs = captureLogs();
      const replayed = await reopenAndReplay(setup, { logger: logs.logger });
      t.same(replayed.report.droppedTornTail, { file, offset: lastStart }, damage);
      t.same(hexes(replayed.records), hexes(payloads.slice(0, 9)), `${damage}: the records before it replay`);
      t.ok(
        logs.warnings.some((warning) => warning.obj.file === file && warning.obj.offset === lastStart && /torn/.test(warning.msg)),
        `${damage}: the warning names file and offset`,
      );
      await replayed.log.close();
    }
  });

  t.test(`a flipped byte in an older segment refuses start-up, naming file and offset; skipCorrupt skips it (${kind.name})`, async (t) => {
    const setup = await kind.make(t);
    const log = await openLog(setup);
    await log.replay(() => []);
    const payloads = makePayloads(150, 4);
    const positions: CommitLogPosition[] = [];
    for (const payload of payloads) positions.push(await log.append(payload, ['A']));
    await log.close();
    // The last record of the first segment: nothing valid follows it there, but that
    // segment is not the newest, so it cannot be a torn tail.
    const firstSegment = positions[0].segmentId;
    const victim = positions.filter((position) => position.segmentId === firstSegment).length - 1;
    const start = victim === 0 ? SEGMENT_HEADER_BYTES : positions[victim - 1].offset;
    const file = join(setup.dir, segmentFileName(firstSegment));
    await overwrite(setup.fs, file, start + 30, Buffer.from([(await readByte(setup.fs, file, start + 30)) ^ 0x01]));

    const refused = await openLog(setup);
    const error = await refused.replay(() => []).then(
      () => null,
      (caught: unknown) => caught,
    );
    t.ok(error instanceof CommitLogCorruption, 'CommitLogCorruption');
    t.match(error, { file, offset: start });
    t.match((error as Error).message, file);
    t.match((error as Error).message, `offset ${start}`);

    const logs = captureLogs();
    const skipped = await reopenAndReplay(setup, { skipCorrupt: true, logger: logs.logger });
    t.equal(skipped.report.skippedCorrupt, 1);
    t.same(hexes(skipped.records), hexes(payloads.filter((_, index) => index !== victim)));
    t.ok(logs.warnings.some((warning) => warning.obj.file === file && warning.obj.offset === start));
    await skipped.log.close();
  });

  t.test(`corruption mid-segment followed by valid records refuses even in the newest segment (${kind.name})`, async (t) => {
    const setup = await kind.make(t);
    const log = await openLog(setup);
    await log.replay(() => []);
    const payloads = makePayloads(20, 5, () => 'A', 300);
    const positions = await Promise.all(payloads.map((payload) => log.append(payload, ['A'])));
    await log.close();
    t.equal(new Set(positions.map((position) => position.segmentId)).size, 1, 'one segment');
    const file = join(setup.dir, segmentFileName(positions[0].segmentId));
    // Damage the length field of record 7: the reader cannot trust where record 8 starts
    // and must find it by scanning.
    const start = positions[6].offset;
    await overwrite(setup.fs, file, start + 1, Buffer.from([(await readByte(setup.fs, file, start + 1)) ^ 0x10]));

    await t.rejects((await openLog(setup)).replay(() => []), { name: 'CommitLogCorruption', file, offset: start });
    const skipped = await reopenAndReplay(setup, { skipCorrupt: true });
    t.equal(skipped.report.skippedCorrupt, 1);
    t.equal(skipped.report.droppedTornTail, null);
    t.same(hexes(skipped.records), hexes(payloads.filter((_, index) => index !== 7)));
    await skipped.log.close();
  });

  t.test(`markClean deletes segments every table has flushed and keeps dirty ones (${kind.name})`, async (t) => {
    const setup = await kind.make(t);
    const log = await openLog(setup);
    await log.replay(() => []);
    // 4000-byte payloads: 16 records fill a 64 KiB segment.
    const plan = [...'A'.repeat(16), ...'A'.repeat(8), 'B', ...'A'.repeat(7), ...'A'.repeat(16), ...'A'.repeat(4)];
    const payloads = makePayloads(plan.length, 6, (index) => plan[index], 4000);
    const positions: CommitLogPosition[] = [];
    for (const payload of payloads) positions.push(await log.append(payload, [tableOf(payload)]));
    const ids = [...new Set(positions.map((position) => position.segmentId))];
    t.equal(ids.length, 4);
    const files = async () => (await setup.fs.readdir(setup.dir)).sort();

    await log.markClean('A', positions[20]);
    t.same(await files(), ids.slice(1).map(segmentFileName).sort(), 'the first segment, all A, is deleted');
    await log.markClean('A', log.currentPosition());
    t.same(await files(), [ids[1], ids[3]].map(segmentFileName).sort(), 'B keeps the second; the active one stays');
    t.equal(log.segmentCount(), 2);
    t.equal(log.usedBytes(), 2 * SEGMENT_BYTES);
    await log.markClean('B', positions[23]);
    t.equal(log.segmentCount(), 2, "a position before B's record does not clean it");
    await log.markClean('B', positions[24]);
    t.same(await files(), [segmentFileName(ids[3])]);
    await log.close();
  });

  t.test(`replayed segments are deleted once the tables replay named are flushed (${kind.name})`, async (t) => {
    const setup = await kind.make(t);
    const log = await openLog(setup);
    await log.replay(() => []);
    const plan = [...'A'.repeat(20), 'B', ...'A'.repeat(20)];
    const payloads = makePayloads(plan.length, 7, (index) => plan[index], 4000);
    const positions: CommitLogPosition[] = [];
    for (const payload of payloads) positions.push(await log.append(payload, [tableOf(payload)]));
    await log.close();
    const ids = [...new Set(positions.map((position) => position.segmentId))];

    // An apply that names no tables leaves the log unable to tell: the segments stay.
    const unnamed = await openLog(setup);
    await unnamed.replay(() => undefined);
    await unnamed.markClean('A', unnamed.currentPosition());
    await unnamed.markClean('B', unnamed.currentPosition());
    t.equal((await setup.fs.readdir(setup.dir)).length, ids.length, 'nothing deleted without table names');
    await unnamed.close();

    const { log: replayed } = await reopenAndReplay(setup);
    const flushedUpTo = replayed.currentPosition();
    await replayed.markClean('A', flushedUpTo);
    const bSegment = positions[20].segmentId;
    t.same(await setup.fs.readdir(setup.dir), [segmentFileName(bSegment)], 'only the segment holding B remains');
    await replayed.markClean('B', flushedUpTo);
    t.same(await setup.fs.readdir(setup.dir), []);
    t.equal(replayed.segmentCount(), 0);
    await replayed.close();
  });
}

t.test('pressure listeners hear, past totalSpaceBytesMax, the tables of the oldest segment', async (t) => {
  const setup: Setup = { fs: new FaultInjectingFileSystem(), dir: '/cl' };
  const log = await openLog(setup, { totalSpaceBytesMax: 3 * SEGMENT_BYTES });
  await log.replay(() => []);
  const calls: string[][] = [];
  log.onPressure((tableIds) => calls.push([...tableIds].sort()));
  const plan = [...'A'.repeat(8), 'C', ...'B'.repeat(7), ...'A'.repeat(16), ...'B'.repeat(16)];
  const payloads = makePayloads(plan.length, 8, (index) => plan[index], 4000);
  for (const payload of payloads) await log.append(payload, [tableOf(payload)]);
  t.equal(log.segmentCount(), 3);
  t.same(calls, [], 'no pressure within the limit');
  await log.append(makePayloads(1, 9, () => 'D', 4000)[0], ['D']);
  await nextTurn();
  t.same(calls, [['A', 'B', 'C']], 'the fourth segment names the tables of the first');
  await log.markClean('A', log.currentPosition());
  await log.markClean('B', log.currentPosition());
  await log.markClean('C', log.currentPosition());
  t.equal(log.segmentCount(), 1, 'flushing the named tables frees space');
  await log.close();
});

t.test('batch mode: a crash loses no acknowledged record and leaves no half record', async (t) => {
  let partialCrashes = 0;
  for (let seed = 1; seed <= 16; seed++) {
    const fs = new FaultInjectingFileSystem({ tornWrite: seed % 2 === 0, seed });
    const setup: Setup = { fs, dir: '/cl' };
    const log = await openLog(setup, { sync: 'batch', segmentBytes: 16 * 1024 });
    await log.replay(() => []);
    const payloads = makePayloads(160, seed);
    const appendOrder: number[] = [];
    const acknowledged = new Set<number>();
    let crashed = false;
    const writers = [0, 1, 2, 3].map(async (writer) => {
      for (let index = writer; index < payloads.length && !crashed; index += 4) {
        appendOrder.push(index);
        try {
          await log.append(payloads[index], ['A']);
          acknowledged.add(index);
        } catch {
          return;
        }
      }
    });
    const random = seededRandom(seed * 7919);
    const turns = 1 + Math.floor(random() * 40);
    for (let turn = 0; turn < turns; turn++) await nextTurn();
    const acknowledgedAtCrash = [...acknowledged];
    fs.crash();
    crashed = true;
    await Promise.all(writers);
    await log.close().catch(() => undefined);
    if (acknowledgedAtCrash.length > 0 && acknowledgedAtCrash.length < payloads.length) partialCrashes++;

    const { records, log: reopened } = await reopenAndReplay(setup, { sync: 'batch', segmentBytes: 16 * 1024 });
    const expectedPrefix = appendOrder.slice(0, records.length).map((index) => payloads[index].toString('hex'));
    t.same(hexes(records), expectedPrefix, `seed ${seed}: replay is a prefix of the appends, every record whole`);
    const replayedIndexes = new Set(records.map((record) => record.readUInt32LE(1)));
    t.ok(
      acknowledgedAtCrash.every((index) => replayedIndexes.has(index)),
      `seed ${seed}: all ${acknowledgedAtCrash.length} acknowledged records survive (${records.length} replayed)`,
    );
    await reopened.close();
  }
  t.ok(partialCrashes >= 8, `crashes landed mid-stream (${partialCrashes} of 16)`);
});

t.test('periodic mode: a crash may lose unsynced records but never yields a half record', async (t) => {
  let lostSome = 0;
  for (let seed = 1; seed <= 12; seed++) {
    const fs = new FaultInjectingFileSystem({ tornWrite: true, seed });
    const setup: Setup = { fs, dir: '/cl' };
    const log = await openLog(setup, { segmentBytes: 16 * 1024 });
    await log.replay(() => []);
    const payloads = makePayloads(120, seed + 100);
    const random = seededRandom(seed);
    const crashAfter = Math.floor(random() * payloads.length);
    let synced = 0;
    for (let index = 0; index < crashAfter; index++) {
      await log.append(payloads[index], ['A']);
      if (index % 25 === 24) {
        await log.sync();
        synced = index + 1;
      }
    }
    fs.crash();
    await log.close().catch(() => undefined);
    const { records, log: reopened } = await reopenAndReplay(setup, { segmentBytes: 16 * 1024 });
    t.same(hexes(records), hexes(payloads.slice(0, records.length)), `seed ${seed}: whole records, in order`);
    t.ok(records.length >= synced, `seed ${seed}: the ${synced} synced records survive (${records.length} replayed)`);
    if (records.length < crashAfter) lostSome++;
    await reopened.close();
  }
  t.ok(lostSome > 0, 'some crashes lost unsynced records, as periodic mode allows');
});

t.test('a torn write at the tail is dropped once, then the log starts cleanly again', async (t) => {
  const fs = new FaultInjectingFileSystem({ tornWrite: true, seed: 7 });
  const setup: Setup = { fs, dir: '/cl' };
  const log = await openLog(setup);
  await log.replay(() => []);
  const payloads = makePayloads(11, 10, () => 'A', 3000);
  for (const payload of payloads.slice(0, 10)) await log.append(payload, ['A']);
  await log.sync();
  const tailStart = log.currentPosition();
  await log.append(payloads[10], ['A']);
  fs.crash();
  await log.close().catch(() => undefined);

  const logs = captureLogs();
  const first = await reopenAndReplay(setup, { logger: logs.logger });
  const file = join('/cl', segmentFileName(tailStart.segmentId));
  t.same(first.report.droppedTornTail, { file, offset: tailStart.offset });
  t.ok(logs.warnings.some((warning) => warning.obj.file === file && warning.obj.offset === tailStart.offset));
  t.same(hexes(first.records), hexes(payloads.slice(0, 10)));
  const afterRestart = Buffer.from('written after the restart');
  await first.log.append(afterRestart, ['A']);
  await first.log.close();

  // The torn segment is no longer the newest; it was repaired, so this is no corruption.
  const second = await reopenAndReplay(setup);
  t.equal(second.report.droppedTornTail, null);
  t.same(hexes(second.records), hexes([...payloads.slice(0, 10), afterRestart]));
  await second.log.close();
});

t.test('a newest segment created but never written is deleted at replay', async (t) => {
  const fs = new FaultInjectingFileSystem();
  const setup: Setup = { fs, dir: '/cl' };
  const log = await openLog(setup);
  await log.replay(() => []);
  const position = await log.append(Buffer.from('one record'), ['A']);
  await log.close();
  // As if a crash hit between creating the next segment and writing its header.
  const blank = join('/cl', segmentFileName(position.segmentId + 1));
  await fs.writeFile(blank, Buffer.alloc(SEGMENT_BYTES));
  await fs.syncDir('/cl');
  const logs = captureLogs();
  const replayed = await reopenAndReplay(setup, { logger: logs.logger });
  t.same(hexes(replayed.records), [Buffer.from('one record').toString('hex')]);
  t.notOk(await fs.exists(blank));
  t.ok(logs.warnings.some((warning) => warning.obj.file === blank));
  await replayed.log.close();
});

t.test('group mode: 64 concurrent writers share fsyncs', async (t) => {
  for (const kind of SETUPS) {
    const base = await kind.make(t);
    const counting = new CountingFileSystem(base.fs);
    const log = await openLog({ fs: counting, dir: base.dir }, { sync: 'group', groupWindowMs: 5 });
    await log.replay(() => []);
    const payloads = makePayloads(64 * 5, 11);
    await Promise.all(
      Array.from({ length: 64 }, async (_, writer) => {
        for (let round = 0; round < 5; round++) await log.append(payloads[writer * 5 + round], ['A']);
      }),
    );
    t.ok(counting.syncs <= 20, `${kind.name}: ${counting.syncs} fsyncs for ${payloads.length} appends`);
    await log.close();
    const { records, log: reopened } = await reopenAndReplay(base);
    t.equal(records.length, payloads.length, `${kind.name}: every acknowledged record is there`);
    await reopened.close();
  }
});

t.test('group mode: writers arriving milliseconds apart within the window share one fsync', async (t) => {
  const counting = new CountingFileSystem(new FaultInjectingFileSystem());
  const log = await openLog({ fs: counting, dir: '/cl' }, { sync: 'group', groupWindowMs: 200 });
  await log.replay(() => []);
  const payload = Buffer.alloc(100, 1);
  // 16 writers, one append every millisecond, twice over: batch mode would fsync for
  // (nearly) every one; group mode waits for the group, the first time for the window
  // and the second time until the 16 writers it saw are back.
  for (let round = 0; round < 2; round++) {
    await Promise.all(
      Array.from({ length: 16 }, async (_, writer) => {
        await new Promise((resolve) => setTimeout(resolve, writer));
        await log.append(payload, ['A']);
      }),
    );
  }
  t.equal(counting.syncs, 3, 'the new segment header, then one fsync per group of 16');
  await log.close();
});

t.test('group mode: a lone writer does not wait out the window', async (t) => {
  const log = await openLog({ fs: new FaultInjectingFileSystem(), dir: '/cl' }, { sync: 'group', groupWindowMs: 200 });
  await log.replay(() => []);
  const started = performance.now();
  for (let i = 0; i < 20; i++) await log.append(Buffer.from(`record ${i}`), ['A']);
  const elapsed = performance.now() - started;
  t.ok(elapsed < 1000, `20 sequential appends took ${Math.round(elapsed)} ms, not 20 windows of 200 ms`);
  await log.close();
});

t.test('records appended in one event-loop turn go to disk as one write', async (t) => {
  const counting = new CountingFileSystem(new FaultInjectingFileSystem());
  const log = await openLog({ fs: counting, dir: '/cl' });
  await log.replay(() => []);
  // Two rounds of 60 records stay under a quarter of the segment (see the next test).
  const payloads = makePayloads(60, 12, () => 'A', 100);
  await Promise.all(payloads.map((payload) => log.append(payload, ['A'])));
  t.equal(counting.writes, 2, 'the segment header, then one write of all 60 records');
  await Promise.all(payloads.map((payload) => log.append(payload, ['A'])));
  t.equal(counting.writes, 3);
  t.equal(counting.syncs, 1, 'periodic mode does not fsync on the append path (only the new segment header)');
  await log.close();
});

t.test('periodic mode syncs every quarter of a segment in the background, and a crash keeps what those syncs covered', async (t) => {
  const fs = new FaultInjectingFileSystem();
  const counting = new CountingFileSystem(fs);
  const setup: Setup = { fs: counting, dir: '/cl' };
  const log = await openLog(setup);
  await log.replay(() => []);
  // 40 records of ~1 KiB one at a time, each its own write: 40 KiB of a 64 KiB segment.
  const payloads = makePayloads(40, 21, () => 'A', 1000);
  for (const payload of payloads) await log.append(payload, ['A']);
  await nextTurn();
  t.equal(counting.syncs, 1 + 2, 'the header, then one sync at each quarter written (16 and 32 KiB)');
  fs.crash();
  await log.close().catch(() => undefined);
  const { records, log: reopened } = await reopenAndReplay(setup);
  t.ok(records.length >= 32, `the records the background syncs covered survive (${records.length} replayed)`);
  t.ok(records.length < 40, 'the tail written since is lost, as periodic mode allows');
  t.same(hexes(records), hexes(payloads.slice(0, records.length)), 'whole records, in order');
  await reopened.close();
});

t.test('a background sync that fails fails the log', async (t) => {
  const fs = new FaultInjectingFileSystem();
  const log = await openLog({ fs, dir: '/cl' });
  await log.replay(() => []);
  await log.append(Buffer.from('fine'), ['A']);
  fs.failNextSync(/CommitLog/);
  const payloads = makePayloads(20, 22, () => 'A', 1000);
  let refused = 0;
  for (const payload of payloads) await log.append(payload, ['A']).catch(() => refused++);
  await nextTurn();
  t.ok(refused > 0 && refused < 20, `appends written before the failed sync went through, those after it were refused (${refused})`);
  await t.rejects(log.append(Buffer.from('after'), ['A']), { code: 'EIO' }, 'later appends are refused');
  await t.rejects(log.close(), { code: 'EIO' });
});

t.test('a mutation bigger than half a segment is refused', async (t) => {
  const setup: Setup = { fs: new FaultInjectingFileSystem(), dir: '/cl' };
  const log = await openLog(setup);
  await log.replay(() => []);
  const max = SEGMENT_BYTES / 2 - 12;
  await t.rejects(log.append(Buffer.alloc(max + 1, 1), ['A']), InvalidRequest);
  await t.rejects(log.append(Buffer.alloc(max + 1, 1), ['A']), {
    message: `Mutation of ${max + 1} bytes is too large for the maximum size of ${max}`,
  });
  const position = await log.append(Buffer.alloc(max, 1), ['A']);
  t.equal(position.offset, SEGMENT_HEADER_BYTES + max + 12);
  await log.close();
});

t.test('a failed fsync or write stops the log: the pending append and every later one reject', async (t) => {
  for (const failure of ['sync', 'write'] as const) {
    const fs = new FaultInjectingFileSystem();
    const log = await openLog({ fs, dir: '/cl' }, { sync: 'batch' });
    await log.replay(() => []);
    await log.append(Buffer.from('fine'), ['A']);
    if (failure === 'sync') fs.failNextSync(/CommitLog/);
    else fs.failNextWrite(/CommitLog/);
    await t.rejects(log.append(Buffer.from('doomed'), ['A']), { code: 'EIO' }, failure);
    await t.rejects(log.append(Buffer.from('after'), ['A']), { code: 'EIO' }, `${failure}: later appends are refused`);
    await t.rejects(log.close(), { code: 'EIO' });
  }
});

t.test('replay runs only before the first append', async (t) => {
  const log = await openLog({ fs: new FaultInjectingFileSystem(), dir: '/cl' });
  await log.append(Buffer.from('x'), ['A']);
  await t.rejects(log.replay(() => []), /replay runs before the first append/);
  await log.close();
  await t.rejects(log.append(Buffer.from('y'), ['A']), /closed/);
});

t.test('batch and group modes write a segment ahead of its data, periodic mode does not', async (t) => {
  for (const sync of ['batch', 'group', 'periodic'] as const) {
    const setup = await SETUPS[0].make(t);
    const counting = new CountingFileSystem(setup.fs);
    const log = await openLog({ fs: counting, dir: setup.dir }, { sync, segmentBytes: 8 * 1024 * 1024, groupWindowMs: 1 });
    await log.replay(() => []);
    for (const payload of makePayloads(20, 31, () => 'A', 200)) await log.append(payload, ['A']);
    // A truncated segment is a hole until written: zeros written past the data make its
    // blocks exist before the fsyncs that follow (which then commit no allocation).
    if (sync === 'periodic') t.ok(counting.bytesWritten < 64 * 1024, `${sync}: ${counting.bytesWritten} bytes written for 4 KiB of records`);
    else t.ok(counting.bytesWritten >= 1024 * 1024, `${sync}: ${counting.bytesWritten} bytes written, the records and 1 MiB of zeros past them`);
    await log.close();
    const { records, log: reopened } = await reopenAndReplay(setup, { sync, segmentBytes: 8 * 1024 * 1024 });
    t.equal(records.length, 20, `${sync}: every record replays, the zeros after them read as the end`);
    await reopened.close();
  }
});

t.test('batch mode: records written over several zeroed stretches replay intact, in order', async (t) => {
  for (const kind of SETUPS) {
    const setup = await kind.make(t);
    const log = await openLog(setup, { sync: 'batch', segmentBytes: 4 * 1024 * 1024 });
    await log.replay(() => []);
    // ~3 MiB in 8 concurrent streams: segment switches, and several stretches of zeros each.
    const payloads = makePayloads(3000, 32);
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < payloads.length) await log.append(payloads[next++], ['A']);
      }),
    );
    await log.close();
    const { records, log: reopened } = await reopenAndReplay(setup, { sync: 'batch', segmentBytes: 4 * 1024 * 1024 });
    t.equal(records.length, payloads.length, `${kind.name}: every record replays`);
    t.ok(
      records.every((record, i) => record.equals(payloads[i])),
      `${kind.name}: each as written, in append order`,
    );
    await reopened.close();
  }
});

t.test('batch mode writes a round and makes it durable in one step where the file system can', async (t) => {
  for (const kind of SETUPS) {
    const setup = await kind.make(t);
    const counting = new CountingFileSystem(setup.fs);
    const log = await openLog({ fs: counting, dir: setup.dir }, { sync: 'batch' });
    await log.replay(() => []);
    const payloads = makePayloads(20, 33);
    for (const payload of payloads) await log.append(payload, ['A']);
    // The segment's header is synced when it is created, and the first record's round,
    // which wrote zeros past it, too; every later round is one durable write.
    t.ok(counting.syncedWrites >= payloads.length - 2, `${kind.name}: ${counting.syncedWrites} durable writes for ${payloads.length} appends`);
    t.ok(counting.syncs - counting.syncedWrites <= 3, `${kind.name}: ${counting.syncs - counting.syncedWrites} fsyncs besides`);
    await log.close();
    const { records, log: reopened } = await reopenAndReplay(setup);
    t.equal(records.length, payloads.length, `${kind.name}: every acknowledged record is there`);
    await reopened.close();
  }
});

t.test('refusing a corrupt log names the setting that skips corrupt data', async (t) => {
  const setup = await SETUPS[1].make(t);
  const log = await openLog(setup, { sync: 'batch' });
  await log.replay(() => []);
  for (const payload of makePayloads(3, 34)) await log.append(payload, ['A']);
  await log.close();
  const [name] = await setup.fs.readdir(setup.dir);
  await overwrite(setup.fs, join(setup.dir, name), SEGMENT_HEADER_BYTES + 6, Buffer.from([0xff, 0xee]));
  // Damage with whole records after it is corruption, not a torn tail.
  const next = await openLog(setup, { sync: 'batch' });
  await t.rejects(next.replay(() => ['A']), { message: /commitlog_replay_skip_corrupt: true/ });
});

t.test('periodic mode fsyncs on its own every commitlog_sync_period', async (t) => {
  const setup = await SETUPS[1].make(t);
  const counting = new CountingFileSystem(setup.fs);
  const log = await openLog({ fs: counting, dir: setup.dir }, { sync: 'periodic', syncPeriodMs: 20 });
  await log.replay(() => []);
  await log.append(Buffer.from('a record'), ['A']);
  const synced = counting.syncs;
  const started = performance.now();
  while (counting.syncs === synced && performance.now() - started < 5000) await new Promise((resolve) => setTimeout(resolve, 5));
  t.ok(counting.syncs > synced, `an fsync ${Math.round(performance.now() - started)} ms after the append, with no sync() asked for`);
  await log.close();
});

t.test('a segment of another format version refuses start-up, naming the file and the version', async (t) => {
  const setup = await SETUPS[1].make(t);
  await setup.fs.mkdir(setup.dir);
  const foreign = join(setup.dir, segmentFileName(5).replace(/^CommitLog-\d+-/, 'CommitLog-99-'));
  await setup.fs.writeFile(foreign, Buffer.alloc(64));
  await t.rejects(openLog(setup), { message: /Unsupported commit log format version 99 in .*CommitLog-99-5\.log/ });
});
