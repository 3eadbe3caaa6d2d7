import t from 'tap';
import fc from 'fast-check';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FaultInjectingFileSystem } from '../../lib/storage/fault-fs.js';
import type { FileSystem } from '../../lib/storage/fs.js';
import { NodeFileSystem } from '../../lib/storage/node-fs.js';
import { propertyHolds } from '../helpers/property.js';

function codeOf(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? String(error);
}

async function outcome<T>(operation: () => Promise<T>): Promise<T | string> {
  try {
    return await operation();
  } catch (error) {
    return `error ${codeOf(error)}`;
  }
}

/** The same basic operations, recorded as a transcript, so two file systems can be compared. */
async function basicOperations(fs: FileSystem, dir: string): Promise<unknown[]> {
  const log: unknown[] = [];
  const at = (name: string) => join(dir, name);
  await fs.mkdir(at('sub/deeper'));
  log.push(await fs.exists(at('sub/deeper')));
  await fs.writeFile(at('a'), Buffer.from('hello'));
  log.push((await fs.readFile(at('a'))).toString('latin1'), await fs.size(at('a')));

  const handle = await fs.open(at('a'), 'r+');
  await handle.write(Buffer.from('XY'), 1);
  await handle.write(Buffer.from('Z'), 10);
  log.push(await handle.size());
  const whole = Buffer.alloc(16);
  log.push(await handle.read(whole, 0, 16, 0), whole.toString('hex'));
  log.push(await handle.read(whole, 0, 4, 100));
  await handle.truncate(3);
  log.push(await handle.size(), (await fs.readFile(at('a'))).toString('latin1'));
  await handle.truncate(6);
  log.push((await fs.readFile(at('a'))).toString('hex'));
  await handle.sync();
  await handle.close();

  const readOnly = await fs.open(at('a'), 'r');
  log.push(await outcome(() => readOnly.write(Buffer.from('no'), 0)));
  await readOnly.close();
  log.push(await outcome(() => fs.open(at('a'), 'wx+')));
  log.push(await outcome(() => fs.open(at('missing'), 'r')));
  log.push(await outcome(() => fs.open(at('missing'), 'r+')));
  log.push(await outcome(() => fs.open(at('nodir/x'), 'w+')));

  const created = await fs.open(at('b'), 'wx+');
  await created.write(Buffer.from('bee'), 0);
  await created.close();
  const truncating = await fs.open(at('b'), 'w+');
  log.push(await truncating.size());
  await truncating.write(Buffer.from('bravo'), 0);
  await truncating.close();
  log.push((await fs.readdir(dir)).sort());
  await fs.rename(at('a'), at('b'));
  log.push(await fs.exists(at('a')), (await fs.readFile(at('b'))).toString('hex'));
  log.push(await outcome(() => fs.rename(at('a'), at('c'))));
  log.push((await fs.readdir(dir)).sort(), await fs.readdir(at('nothing-here')));
  await fs.syncDir(dir);
  await fs.unlink(at('b'));
  log.push(await fs.exists(at('b')));
  log.push(await outcome(() => fs.unlink(at('b'))));
  log.push(await outcome(() => fs.readFile(at('b'))));
  log.push(await outcome(() => fs.size(at('b'))));
  log.push((await fs.readdir(dir)).sort());
  return log;
}

t.test('the fault-injecting file system behaves like the real one on basic operations', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sibyl-fault-fs-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const real = await basicOperations(new NodeFileSystem(), dir);
  const simulated = await basicOperations(new FaultInjectingFileSystem(), '/data/x');
  t.same(simulated, real);
  // The transcript really exercised the interesting cases.
  t.ok(real.includes('error EEXIST') && real.includes('error ENOENT') && real.includes('error EBADF'));
});

t.test('un-synced writes are lost on a crash; synced ones survive', async (t) => {
  const fs = new FaultInjectingFileSystem();
  await fs.mkdir('/d');
  const handle = await fs.open('/d/f', 'w+');
  await fs.syncDir('/d');
  await handle.write(Buffer.from('durable'), 0);
  await handle.sync();
  await handle.write(Buffer.from('-lost'), 7);
  await handle.write(Buffer.from('D'), 0);
  t.equal((await fs.readFile('/d/f')).toString(), 'Durable-lost');
  fs.crash();
  t.equal((await fs.readFile('/d/f')).toString(), 'durable');
});

t.test('a crash undoes a truncate that was not synced, and keeps one that was', async (t) => {
  const fs = new FaultInjectingFileSystem();
  await fs.mkdir('/d');
  await fs.writeFile('/d/f', Buffer.from('0123456789'));
  await fs.syncDir('/d');
  const handle = await fs.open('/d/f', 'r+');
  await handle.truncate(4);
  fs.crash();
  t.equal((await fs.readFile('/d/f')).toString(), '0123456789');
  const again = await fs.open('/d/f', 'r+');
  await again.truncate(4);
  await again.sync();
  await again.truncate(8);
  t.same([...(await fs.readFile('/d/f'))], [0x30, 0x31, 0x32, 0x33, 0, 0, 0, 0], 'extending reads as zeros');
  fs.crash();
  t.equal((await fs.readFile('/d/f')).toString(), '0123');
});

t.test('a created file whose directory was never synced disappears on a crash, even with its data synced', async (t) => {
  const fs = new FaultInjectingFileSystem();
  await fs.mkdir('/d');
  await fs.writeFile('/d/early', Buffer.from('x'));
  await fs.syncDir('/d');
  await fs.writeFile('/d/late', Buffer.from('synced data'));
  t.same(await fs.readdir('/d'), ['early', 'late']);
  fs.crash();
  t.same(await fs.readdir('/d'), ['early']);
  t.notOk(await fs.exists('/d/late'));
  t.equal((await fs.readFile('/d/early')).toString(), 'x');
});

t.test('syncing a directory persists only its own entries', async (t) => {
  const fs = new FaultInjectingFileSystem();
  await fs.mkdir('/a');
  await fs.mkdir('/b');
  await fs.writeFile('/a/one', Buffer.from('1'));
  await fs.writeFile('/b/two', Buffer.from('2'));
  await fs.syncDir('/a');
  fs.crash();
  t.same(await fs.readdir('/a'), ['one']);
  t.same(await fs.readdir('/b'), []);
});

t.test('an un-synced rename reverts on a crash; a synced one sticks', async (t) => {
  const fs = new FaultInjectingFileSystem();
  await fs.mkdir('/d');
  await fs.writeFile('/d/old', Buffer.from('old content'));
  await fs.writeFile('/d/target', Buffer.from('replaced'));
  await fs.syncDir('/d');
  await fs.rename('/d/old', '/d/target');
  t.same(await fs.readdir('/d'), ['target']);
  fs.crash();
  t.same(await fs.readdir('/d'), ['old', 'target']);
  t.equal((await fs.readFile('/d/target')).toString(), 'replaced');
  await fs.rename('/d/old', '/d/target');
  await fs.syncDir('/d');
  fs.crash();
  t.same(await fs.readdir('/d'), ['target']);
  t.equal((await fs.readFile('/d/target')).toString(), 'old content');
});

t.test('an un-synced unlink comes back on a crash with its durable content', async (t) => {
  const fs = new FaultInjectingFileSystem();
  await fs.mkdir('/d');
  const handle = await fs.open('/d/f', 'w+');
  await handle.write(Buffer.from('kept'), 0);
  await handle.sync();
  await fs.syncDir('/d');
  await fs.unlink('/d/f');
  // Writes through a handle to an unlinked file still work, as on POSIX, but are not durable.
  await handle.write(Buffer.from('KEPT'), 0);
  fs.crash();
  t.equal((await fs.readFile('/d/f')).toString(), 'kept');
  await fs.unlink('/d/f');
  await fs.syncDir('/d');
  fs.crash();
  t.notOk(await fs.exists('/d/f'));
});

t.test('handles opened before a crash are invalid after it', async (t) => {
  const fs = new FaultInjectingFileSystem();
  await fs.mkdir('/d');
  await fs.writeFile('/d/f', Buffer.from('x'));
  await fs.syncDir('/d');
  const handle = await fs.open('/d/f', 'r+');
  fs.crash();
  for (const operation of [
    () => handle.write(Buffer.from('y'), 0),
    async () => {
      await handle.read(Buffer.alloc(1), 0, 1, 0);
    },
    () => handle.sync(),
    async () => {
      await handle.size();
    },
    () => handle.truncate(0),
  ]) {
    await t.rejects(operation, { code: 'EBADF' });
  }
  await handle.close();
  const reopened = await fs.open('/d/f', 'r');
  t.equal(await reopened.size(), 1);
  await reopened.close();
  await t.rejects(reopened.close(), { code: 'EBADF' }, 'a double close in one life is an error');
});

t.test('failNextWrite raises EIO once, for a matching path only, and writes nothing', async (t) => {
  const fs = new FaultInjectingFileSystem();
  await fs.mkdir('/d');
  const other = await fs.open('/d/other.db', 'w+');
  const log = await fs.open('/d/CommitLog-1-5.log', 'w+');
  fs.failNextWrite(/CommitLog/);
  await other.write(Buffer.from('fine'), 0);
  await t.rejects(log.write(Buffer.from('lost'), 0), { code: 'EIO', syscall: 'write' });
  t.equal(await log.size(), 0);
  await log.write(Buffer.from('works'), 0);
  t.equal((await fs.readFile('/d/CommitLog-1-5.log')).toString(), 'works');
  fs.failNextWrite('other');
  await t.rejects(fs.writeFile('/d/other.db', Buffer.from('z')), { code: 'EIO' });
});

t.test('failNextSync raises EIO and makes nothing durable', async (t) => {
  const fs = new FaultInjectingFileSystem();
  await fs.mkdir('/d');
  const handle = await fs.open('/d/f', 'w+');
  await fs.syncDir('/d');
  await handle.write(Buffer.from('abc'), 0);
  fs.failNextSync('/d/f');
  await t.rejects(handle.sync(), { code: 'EIO' });
  fs.crash();
  t.equal((await fs.readFile('/d/f')).length, 0);
  await fs.writeFile('/d/g', Buffer.from('g'));
  fs.failNextSync('/d');
  await t.rejects(fs.syncDir('/d'), { code: 'EIO' });
  fs.crash();
  t.notOk(await fs.exists('/d/g'), 'the failed directory sync persisted nothing');
});

t.test('tornWrite keeps earlier un-synced writes and a strict prefix of the last one, the same for the same seed', async (t) => {
  async function tear(seed: number): Promise<Buffer> {
    const fs = new FaultInjectingFileSystem({ tornWrite: true, seed });
    await fs.mkdir('/d');
    const handle = await fs.open('/d/f', 'w+');
    await fs.syncDir('/d');
    await handle.write(Buffer.from('synced|'), 0);
    await handle.sync();
    await handle.write(Buffer.from('written|'), 7);
    await handle.write(Buffer.from('torn-at-random'), 15);
    fs.crash();
    return fs.readFile('/d/f');
  }
  const lengths = new Set<number>();
  for (let seed = 1; seed <= 20; seed++) {
    const content = await tear(seed);
    t.ok(content.toString().startsWith('synced|written|'), `seed ${seed}: earlier writes kept`);
    const kept = content.length - 'synced|written|'.length;
    t.ok(kept >= 1 && kept < 'torn-at-random'.length, `seed ${seed}: a strict, non-empty prefix (${kept} bytes)`);
    t.equal(content.toString(), 'synced|written|' + 'torn-at-random'.slice(0, kept));
    t.same(await tear(seed), content, `seed ${seed} reproduces`);
    lengths.add(kept);
  }
  t.ok(lengths.size > 3, 'the torn length varies with the seed');
});

t.test('file content after any sequence of writes, truncates, syncs and a crash matches a simple model', async () => {
  const operation = fc.oneof(
    fc.record({ kind: fc.constant('write' as const), position: fc.nat(300), bytes: fc.uint8Array({ minLength: 1, maxLength: 80 }) }),
    fc.record({ kind: fc.constant('writeSynced' as const), position: fc.nat(300), bytes: fc.uint8Array({ minLength: 1, maxLength: 80 }) }),
    fc.record({ kind: fc.constant('truncate' as const), length: fc.nat(400) }),
    fc.record({ kind: fc.constant('sync' as const) }),
  );
  propertyHolds(t, await fc.check(
    fc.asyncProperty(fc.array(operation, { maxLength: 40 }), async (operations) => {
      const fs = new FaultInjectingFileSystem();
      await fs.mkdir('/d');
      const handle = await fs.open('/d/f', 'w+');
      await fs.syncDir('/d');
      let current = Buffer.alloc(0);
      let durable = Buffer.alloc(0);
      const written = (content: Buffer, op: { position: number; bytes: Uint8Array }) => {
        const next = Buffer.alloc(Math.max(content.length, op.position + op.bytes.length));
        content.copy(next);
        next.set(op.bytes, op.position);
        return next;
      };
      for (const op of operations) {
        if (op.kind === 'write') {
          current = written(current, op);
          await handle.write(Buffer.from(op.bytes), op.position);
        } else if (op.kind === 'writeSynced') {
          // Its bytes alone become durable (the file at least as long as their end).
          current = written(current, op);
          durable = written(durable, op);
          await handle.writeSynced!(Buffer.from(op.bytes), op.position);
        } else if (op.kind === 'truncate') {
          const next = Buffer.alloc(op.length);
          current.copy(next, 0, 0, Math.min(current.length, op.length));
          current = next;
          await handle.truncate(op.length);
        } else {
          durable = Buffer.from(current);
          await handle.sync();
        }
      }
      if (!(await fs.readFile('/d/f')).equals(current)) throw new Error('current content differs');
      fs.crash();
      if (!(await fs.readFile('/d/f')).equals(durable)) throw new Error('content after the crash differs');
    }),
    { numRuns: 200 },
  ), 'the property holds');
});

t.test('a torn crash never tears a write made durable by writeSynced, nor puts older unsynced bytes over it', async (t) => {
  for (let seed = 1; seed <= 20; seed++) {
    const fs = new FaultInjectingFileSystem({ tornWrite: true, seed });
    await fs.mkdir('/d');
    const handle = await fs.open('/d/f', 'w+');
    await handle.write(Buffer.alloc(12, 0x61), 0); // aaaaaaaaaaaa, unsynced
    await handle.sync();
    await handle.write(Buffer.alloc(12, 0x62), 0); // bbbbbbbbbbbb, unsynced: may be torn
    await handle.writeSynced!(Buffer.from('SYNC'), 4);
    await fs.syncDir('/d');
    fs.crash();
    const content = (await fs.readFile('/d/f')).toString();
    t.equal(content.slice(4, 8), 'SYNC', `seed ${seed}: ${content}`);
    t.match(content, /^[ab]{4}SYNC[ab]{4}$/, `seed ${seed}: the rest is old or new bytes`);
  }
});
