/**
 * An in-memory FileSystem that can "lose power" (after LevelDB's fault_injection_test):
 * it keeps, for every file, the current content and the content last made durable by
 * `sync()`, and for every name, whether its directory entry was made durable by
 * `syncDir()`. `crash()` then leaves exactly what the durability contract of
 * lib/storage/fs.ts promises to survive, so crash tests are deterministic.
 *
 * Simplifications, chosen because storage code never depends on them:
 * - directories themselves (mkdir) are durable at once; only file entries inside them
 *   (create, rename, unlink) wait for `syncDir`;
 * - directories cannot be renamed or unlinked;
 * - paths are compared after `path.posix.normalize`, so use one spelling per file.
 */
import path from 'node:path';
import type { FileHandle, FileSystem, OpenMode } from './fs.js';
import { seededRandom } from '../model/random.js';

export interface FaultInjectingOptions {
  /**
   * On `crash()`, instead of losing every un-synced change of a file, keep its un-synced
   * changes in order as if the OS had written them back, except the last write, of which
   * only a random prefix survives (at least one byte and not all of it when the write is
   * two bytes or longer): a torn write, as a power loss mid-write leaves.
   */
  tornWrite?: boolean;
  /** Seed of the pseudo-random generator choosing torn lengths (default 1). */
  seed?: number;
}

/** Changes since the last sync, in order; a `synced` write (writeSynced) is durable
 *  already and only kept in order so that older changes never end up on top of it. */
type UnsyncedChange = { kind: 'write'; position: number; bytes: Buffer; synced?: boolean } | { kind: 'truncate'; length: number };

const ERROR_TEXT: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EEXIST: 'file already exists',
  EIO: 'i/o error',
  EBADF: 'bad file descriptor',
  EISDIR: 'illegal operation on a directory',
  ENOTDIR: 'not a directory',
  ENOTSUP: 'operation not supported',
};

/** An error shaped like the ones node:fs raises (code, syscall, path), so callers handle both alike. */
function fsError(code: string, syscall: string, filePath: string): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(`${code}: ${ERROR_TEXT[code]}, ${syscall} '${filePath}'`);
  error.code = code;
  error.syscall = syscall;
  error.path = filePath;
  return error;
}


/** A file's bytes, independent of its names (as on a real file system, sync is per inode). */
class Inode {
  private data: Buffer;
  size = 0;
  private durable: Buffer;
  private durableSize = 0;
  // Bytes changed since the last sync; only they are copied on sync, so syncing a big
  // preallocated file after a small append stays cheap.
  private dirtyStart = Infinity;
  private dirtyEnd = 0;

  constructor(private readonly unsynced: UnsyncedChange[] | null) {
    this.data = Buffer.alloc(0);
    this.durable = Buffer.alloc(0);
  }

  read(target: Buffer, offset: number, length: number, position: number): number {
    const count = Math.max(0, Math.min(length, this.size - position));
    if (count > 0) this.data.copy(target, offset, position, position + count);
    return count;
  }

  content(): Buffer {
    return Buffer.from(this.data.subarray(0, this.size));
  }

  write(bytes: Uint8Array, position: number): void {
    this.unsynced?.push({ kind: 'write', position, bytes: Buffer.from(bytes) });
    this.writeRaw(bytes, position);
  }

  /** write() whose bytes, and only they, are durable at once (a write through O_DSYNC):
   *  other unsynced changes stay unsynced. */
  writeSynced(bytes: Uint8Array, position: number): void {
    this.unsynced?.push({ kind: 'write', position, bytes: Buffer.from(bytes), synced: true });
    this.writeRaw(bytes, position);
    const end = position + bytes.length;
    if (this.durable.length < end) {
      const grown = Buffer.alloc(Math.max(end, this.durable.length * 2));
      this.durable.copy(grown, 0, 0, this.durableSize);
      this.durable = grown;
    }
    if (position > this.durableSize) this.durable.fill(0, this.durableSize, position);
    this.durable.set(bytes, position);
    this.durableSize = Math.max(this.durableSize, end);
  }

  truncate(length: number): void {
    this.unsynced?.push({ kind: 'truncate', length });
    this.truncateRaw(length);
  }

  sync(): void {
    if (this.dirtyStart < this.dirtyEnd) {
      if (this.durable.length < this.size) {
        const grown = Buffer.alloc(Math.max(this.size, this.durable.length * 2));
        this.durable.copy(grown, 0, 0, this.durableSize);
        this.durable = grown;
      }
      const end = Math.min(this.dirtyEnd, this.size);
      if (this.dirtyStart < end) this.data.copy(this.durable, this.dirtyStart, this.dirtyStart, end);
    }
    this.durableSize = this.size;
    this.dirtyStart = Infinity;
    this.dirtyEnd = 0;
    if (this.unsynced) this.unsynced.length = 0;
  }

  /** Rebuilds the content a power loss leaves: the durable bytes, plus (tornWrite) the torn un-synced changes. */
  revert(random: (() => number) | null): void {
    const changes = this.unsynced ?? [];
    this.data = Buffer.from(this.durable.subarray(0, this.durableSize));
    this.size = this.durableSize;
    if (random) {
      let last = -1;
      // The last write not durable already is the one a power loss tears.
      for (let i = 0; i < changes.length; i++) {
        const change = changes[i];
        if (change.kind === 'write' && change.synced !== true) last = i;
      }
      for (let i = 0; i < changes.length; i++) {
        const change = changes[i];
        if (change.kind === 'truncate') this.truncateRaw(change.length);
        else if (i !== last) this.writeRaw(change.bytes, change.position);
        else {
          const length = change.bytes.length;
          const kept = length < 2 ? 0 : 1 + Math.floor(random() * (length - 1));
          this.writeRaw(change.bytes.subarray(0, kept), change.position);
        }
      }
    }
    // What survived is by definition on disk now.
    this.durable = Buffer.from(this.data.subarray(0, this.size));
    this.durableSize = this.size;
    this.dirtyStart = Infinity;
    this.dirtyEnd = 0;
    changes.length = 0;
  }

  private writeRaw(bytes: Uint8Array, position: number): void {
    const end = position + bytes.length;
    const changedFrom = Math.min(position, this.size);
    this.reserve(end);
    // A write past the end leaves a hole that reads as zeros (the buffer may hold stale
    // bytes from before a shrinking truncate).
    if (position > this.size) this.data.fill(0, this.size, position);
    this.data.set(bytes, position);
    this.size = Math.max(this.size, end);
    this.markDirty(changedFrom, end);
  }

  private truncateRaw(length: number): void {
    if (length > this.size) {
      this.reserve(length);
      this.data.fill(0, this.size, length);
      this.markDirty(this.size, length);
    }
    this.size = length;
  }

  private reserve(capacity: number): void {
    if (this.data.length >= capacity) return;
    const grown = Buffer.alloc(Math.max(capacity, this.data.length * 2, 4096));
    this.data.copy(grown, 0, 0, this.size);
    this.data = grown;
  }

  private markDirty(start: number, end: number): void {
    if (start < this.dirtyStart) this.dirtyStart = start;
    if (end > this.dirtyEnd) this.dirtyEnd = end;
  }
}

class FaultFileHandle implements FileHandle {
  private closed = false;

  constructor(
    private readonly fs: FaultInjectingFileSystem,
    readonly path: string,
    private readonly inode: Inode,
    private readonly writable: boolean,
    private readonly generation: number,
  ) {}

  async read(buffer: Buffer, offset: number, length: number, position: number): Promise<number> {
    this.check('read');
    return this.inode.read(buffer, offset, length, position);
  }

  async write(buffer: Buffer, position: number): Promise<void> {
    this.check('write', true);
    this.fs.injectFault('write', this.path);
    this.inode.write(buffer, position);
  }

  async sync(): Promise<void> {
    this.check('fdatasync');
    this.fs.injectFault('sync', this.path);
    this.inode.sync();
  }

  async writeSynced(buffer: Buffer, position: number): Promise<void> {
    this.check('write', true);
    this.fs.injectFault('write', this.path);
    this.fs.injectFault('sync', this.path);
    this.inode.writeSynced(buffer, position);
  }

  async size(): Promise<number> {
    this.check('fstat');
    return this.inode.size;
  }

  async truncate(length: number): Promise<void> {
    this.check('ftruncate', true);
    this.inode.truncate(length);
  }

  /** Closing a handle that a crash invalidated succeeds: its process is gone, tests just tidy up. */
  async close(): Promise<void> {
    if (this.closed && this.generation === this.fs.generation) throw fsError('EBADF', 'close', this.path);
    this.closed = true;
  }

  private check(syscall: string, writing = false): void {
    if (this.closed || this.generation !== this.fs.generation) throw fsError('EBADF', syscall, this.path);
    if (writing && !this.writable) throw fsError('EBADF', syscall, this.path);
  }
}

export class FaultInjectingFileSystem implements FileSystem {
  /** Bumped by crash(); handles opened in an older generation are dead. */
  generation = 0;
  private readonly tornWrite: boolean;
  private readonly random: () => number;
  private readonly directories = new Set<string>(['/', '.']);
  private entries = new Map<string, Inode>();
  private durableEntries = new Map<string, Inode>();
  private readonly faults: { operation: 'write' | 'sync'; pattern: string | RegExp }[] = [];

  constructor(options: FaultInjectingOptions = {}) {
    this.tornWrite = options.tornWrite ?? false;
    this.random = seededRandom(options.seed ?? 1);
  }

  /**
   * Simulates a power loss: every file reverts to its last-synced content (see
   * FaultInjectingOptions.tornWrite), every create/rename/unlink not made durable by
   * syncDir is undone, and every open handle becomes invalid (EBADF).
   */
  crash(): void {
    this.generation++;
    const reverted = new Set<Inode>();
    for (const inode of this.durableEntries.values()) {
      if (reverted.has(inode)) continue;
      reverted.add(inode);
      inode.revert(this.tornWrite ? this.random : null);
    }
    this.entries = new Map(this.durableEntries);
  }

  /** The next write to a file whose path matches (substring or RegExp) fails with EIO and writes nothing. */
  failNextWrite(pathPattern: string | RegExp): void {
    this.faults.push({ operation: 'write', pattern: pathPattern });
  }

  /** The next sync (file or directory) whose path matches fails with EIO and makes nothing durable. */
  failNextSync(pathPattern: string | RegExp): void {
    this.faults.push({ operation: 'sync', pattern: pathPattern });
  }

  /** @internal Throws the injected EIO if one is armed for this operation and path. */
  injectFault(operation: 'write' | 'sync', filePath: string): void {
    const index = this.faults.findIndex(
      (fault) =>
        fault.operation === operation &&
        (typeof fault.pattern === 'string' ? filePath.includes(fault.pattern) : fault.pattern.test(filePath)),
    );
    if (index === -1) return;
    this.faults.splice(index, 1);
    throw fsError('EIO', operation === 'write' ? 'write' : 'fsync', filePath);
  }

  async open(filePath: string, mode: OpenMode): Promise<FileHandle> {
    const name = normalize(filePath);
    this.requireParent(name, 'open');
    if (this.directories.has(name)) throw fsError('EISDIR', 'open', filePath);
    let inode = this.entries.get(name);
    if (mode === 'wx+' && inode) throw fsError('EEXIST', 'open', filePath);
    if ((mode === 'r' || mode === 'r+') && !inode) throw fsError('ENOENT', 'open', filePath);
    if (!inode) {
      inode = new Inode(this.tornWrite ? [] : null);
      this.entries.set(name, inode);
    } else if (mode === 'w+') {
      inode.truncate(0);
    }
    return new FaultFileHandle(this, filePath, inode, mode !== 'r', this.generation);
  }

  async readFile(filePath: string): Promise<Buffer> {
    return this.file(filePath, 'open').content();
  }

  async writeFile(filePath: string, data: Buffer): Promise<void> {
    const handle = await this.open(filePath, 'w+');
    try {
      await handle.write(data, 0);
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  async rename(from: string, to: string): Promise<void> {
    const source = normalize(from);
    const target = normalize(to);
    if (this.directories.has(source)) throw fsError('ENOTSUP', 'rename', from);
    const inode = this.file(from, 'rename');
    this.requireParent(target, 'rename');
    if (this.directories.has(target)) throw fsError('EISDIR', 'rename', to);
    if (source === target) return;
    this.entries.delete(source);
    this.entries.set(target, inode);
  }

  async unlink(filePath: string): Promise<void> {
    if (this.directories.has(normalize(filePath))) throw fsError('EISDIR', 'unlink', filePath);
    this.file(filePath, 'unlink');
    this.entries.delete(normalize(filePath));
  }

  async readdir(dir: string): Promise<string[]> {
    const name = normalize(dir);
    if (!this.directories.has(name)) {
      if (this.entries.has(name)) throw fsError('ENOTDIR', 'scandir', dir);
      return [];
    }
    const names: string[] = [];
    for (const entry of this.entries.keys()) if (path.posix.dirname(entry) === name) names.push(path.posix.basename(entry));
    for (const directory of this.directories) {
      if (directory !== name && path.posix.dirname(directory) === name) names.push(path.posix.basename(directory));
    }
    return names.sort();
  }

  async mkdir(dir: string): Promise<void> {
    let name = normalize(dir);
    const missing: string[] = [];
    while (!this.directories.has(name)) {
      if (this.entries.has(name)) throw fsError('EEXIST', 'mkdir', dir);
      missing.push(name);
      name = path.posix.dirname(name);
    }
    for (const directory of missing) this.directories.add(directory);
  }

  async exists(filePath: string): Promise<boolean> {
    const name = normalize(filePath);
    return this.entries.has(name) || this.directories.has(name);
  }

  async size(filePath: string): Promise<number> {
    return this.file(filePath, 'stat').size;
  }

  async syncDir(dir: string): Promise<void> {
    const name = normalize(dir);
    if (!this.directories.has(name)) throw fsError('ENOENT', 'open', dir);
    this.injectFault('sync', dir);
    for (const [entry, inode] of this.entries) if (path.posix.dirname(entry) === name) this.durableEntries.set(entry, inode);
    for (const entry of [...this.durableEntries.keys()]) {
      if (path.posix.dirname(entry) === name && !this.entries.has(entry)) this.durableEntries.delete(entry);
    }
  }

  private file(filePath: string, syscall: string): Inode {
    const name = normalize(filePath);
    const inode = this.entries.get(name);
    if (inode) return inode;
    throw fsError(this.directories.has(name) ? 'EISDIR' : 'ENOENT', syscall, filePath);
  }

  private requireParent(name: string, syscall: string): void {
    if (!this.directories.has(path.posix.dirname(name))) throw fsError('ENOENT', syscall, name);
  }
}

function normalize(filePath: string): string {
  const name = path.posix.normalize(filePath);
  return name.length > 1 && name.endsWith('/') ? name.slice(0, -1) : name;
}
