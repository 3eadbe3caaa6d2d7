/**
 * The real file system behind the FileSystem interface (node:fs/promises).
 */
import { constants, read as fsRead } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { FileHandle, FileSystem, OpenMode } from './fs.js';

class NodeFileHandle implements FileHandle {
  /** A second descriptor of the file, opened with O_DSYNC when writeSynced first needs it. */
  private synced: Promise<fsp.FileHandle> | null = null;

  constructor(
    readonly path: string,
    private readonly handle: fsp.FileHandle,
  ) {}

  read(buffer: Buffer, offset: number, length: number, position: number): Promise<number> {
    // The callback API on the raw descriptor costs the main thread less per read than
    // FileHandle.read (measured about 1.3x the raw read rate), and point reads are many.
    return new Promise((resolve, reject) => {
      fsRead(this.handle.fd, buffer, offset, length, position, (error, bytesRead) => (error ? reject(error) : resolve(bytesRead)));
    });
  }

  write(buffer: Buffer, position: number): Promise<void> {
    return writeAll(this.handle, buffer, position);
  }

  async sync(): Promise<void> {
    await this.handle.datasync();
  }

  /** One system call where write() and sync() take two thread-pool round trips: a
   *  write through O_DSYNC returns once its bytes are durable (about 0.2 ms against
   *  0.25 for write then fdatasync here). The kernel syncs just the written range. */
  async writeSynced(buffer: Buffer, position: number): Promise<void> {
    if (constants.O_DSYNC === undefined) {
      await this.write(buffer, position);
      return this.sync();
    }
    this.synced ??= fsp.open(this.path, constants.O_WRONLY | constants.O_DSYNC);
    await writeAll(await this.synced, buffer, position);
  }

  async size(): Promise<number> {
    return (await this.handle.stat()).size;
  }

  async truncate(length: number): Promise<void> {
    await this.handle.truncate(length);
  }

  async close(): Promise<void> {
    const synced = this.synced;
    this.synced = null;
    await Promise.all([this.handle.close(), synced?.then((handle) => handle.close())]);
  }
}

async function writeAll(handle: fsp.FileHandle, buffer: Buffer, position: number): Promise<void> {
  let written = 0;
  // A single write may be short (signals, quotas); finish it.
  while (written < buffer.length) {
    const { bytesWritten } = await handle.write(buffer, written, buffer.length - written, position + written);
    written += bytesWritten;
  }
}

const FLAGS: Record<OpenMode, number> = {
  r: constants.O_RDONLY,
  'r+': constants.O_RDWR,
  'w+': constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC,
  'wx+': constants.O_RDWR | constants.O_CREAT | constants.O_EXCL,
};

export class NodeFileSystem implements FileSystem {
  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    return new NodeFileHandle(path, await fsp.open(path, FLAGS[mode], 0o644));
  }

  readFile(path: string): Promise<Buffer> {
    return fsp.readFile(path);
  }

  async writeFile(path: string, data: Buffer): Promise<void> {
    const handle = await this.open(path, 'w+');
    try {
      await handle.write(data, 0);
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  rename(from: string, to: string): Promise<void> {
    return fsp.rename(from, to);
  }

  unlink(path: string): Promise<void> {
    return fsp.unlink(path);
  }

  async readdir(dir: string): Promise<string[]> {
    try {
      return await fsp.readdir(dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }

  async mkdir(dir: string): Promise<void> {
    const created = await fsp.mkdir(dir, { recursive: true });
    if (created === undefined) return;
    // New directory entries survive a power loss only once their parents are synced;
    // an SSTable in a directory that vanished would be lost after the log was cleaned.
    for (let child = resolve(dir); ; child = dirname(child)) {
      await this.syncDir(dirname(child));
      if (child === resolve(created)) break;
    }
  }

  async exists(path: string): Promise<boolean> {
    try {
      await fsp.access(path);
      return true;
    } catch {
      return false;
    }
  }

  async size(path: string): Promise<number> {
    return (await fsp.stat(path)).size;
  }

  async syncDir(dir: string): Promise<void> {
    const handle = await fsp.open(dir, constants.O_RDONLY);
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}
