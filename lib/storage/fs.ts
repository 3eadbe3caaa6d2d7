/**
 * The file system as storage sees it. Everything durable (commit log, SSTables)
 * goes through this interface so that tests can swap in a fault-injecting
 * implementation that loses whatever was not synced when it "crashes"
 * (lib/storage/fault-fs.ts), the way LevelDB's tests do.
 *
 * Durability contract (what a real POSIX file system gives and the fault-injecting
 * one enforces): data written to a file survives a crash only after `sync()` on
 * that file; a created, renamed or deleted directory entry survives only after
 * `syncDir()` on its directory.
 */

export interface FileHandle {
  readonly path: string;
  /** Reads up to `length` bytes at `position` into `buffer` at `offset`; returns the count read (0 at end of file). */
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<number>;
  /** Writes all of `buffer` at `position`. */
  write(buffer: Buffer, position: number): Promise<void>;
  /** Makes everything written so far durable (fdatasync). */
  sync(): Promise<void>;
  /**
   * Writes all of `buffer` at `position` and makes those bytes durable, in one step
   * where the platform allows (a write through O_DSYNC). Only these bytes: call it when
   * nothing else written to the file waits for a sync. Optional: without it, callers
   * write() and then sync().
   */
  writeSynced?(buffer: Buffer, position: number): Promise<void>;
  size(): Promise<number>;
  truncate(length: number): Promise<void>;
  close(): Promise<void>;
}

export type OpenMode =
  /** read only; the file must exist */
  | 'r'
  /** read and write; the file must exist */
  | 'r+'
  /** read and write; created if missing, truncated if present */
  | 'w+'
  /** read and write; created if missing, fails if present */
  | 'wx+';

export interface FileSystem {
  open(path: string, mode: OpenMode): Promise<FileHandle>;
  readFile(path: string): Promise<Buffer>;
  /** Writes a whole file and syncs it (not its directory entry). */
  writeFile(path: string, data: Buffer): Promise<void>;
  /** Atomically replaces `to` with `from`. */
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** Names (not paths) of the entries of a directory; [] when it does not exist. */
  readdir(dir: string): Promise<string[]>;
  /** Creates the directory and missing parents, durably (their entries are synced). */
  mkdir(dir: string): Promise<void>;
  exists(path: string): Promise<boolean>;
  /** Size in bytes of a file. */
  size(path: string): Promise<number>;
  /** Makes the directory's entries (creations, renames, deletions) durable. */
  syncDir(dir: string): Promise<void>;
}
