/**
 * Flushes on a thread of their own (Cassandra's flush writers): the SSTable of a
 * memtable whose every write brought its bytes (its update in the commit-log payload)
 * is written by a worker from those (flush-worker.ts), so encoding, compression and
 * checksums leave the event loop, which meanwhile keeps taking writes and serving
 * reads. One worker,
 * started at the first flush; it writes through the real file system only, so an
 * engine on another FileSystem (the tests' fault-injecting one) flushes in-thread.
 */
import { Worker } from 'node:worker_threads';
import { ServerError } from '../errors.js';
import type { StoredTable } from '../system/schema-codec.js';
import type { ArenaContents } from './update-arena.js';

/** What the worker needs to write one SSTable. */
export interface FlushTask {
  readonly id: number;
  readonly keyspace: string;
  readonly table: StoredTable;
  readonly dir: string;
  readonly generation: number;
  /** Sizes the bloom filter: the memtable's partition count. */
  readonly expectedPartitions: number;
  /** The memtable's updates, in shared memory: the worker reads them without a copy. */
  readonly updates: ArenaContents;
}

export interface FlushOutcome {
  readonly id: number;
  /** The failure's message; null when the SSTable is complete on disk. */
  readonly error: string | null;
}

/**
 * The flush thread itself failed (its script did not load, it crashed or exited), as
 * opposed to one flush failing (a full disk): the engine then flushes on the event loop.
 */
export class FlushThreadFailure extends ServerError {}

interface Pending {
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

export class FlushThread {
  /** `script`: the worker's module; the default is flush-worker.js next to this one (tests give another). */
  constructor(private readonly script: URL = new URL('./flush-worker.js', import.meta.url)) {}

  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;

  /** Writes the SSTable; resolves once it is complete on disk (not yet opened). */
  write(task: Omit<FlushTask, 'id'>): Promise<void> {
    if (this.closed) return Promise.reject(new FlushThreadFailure('The flush thread is closed'));
    const worker = (this.worker ??= this.start());
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // Keeps the process alive while a flush is under way, and only then.
      worker.ref();
      worker.postMessage({ ...task, id } satisfies FlushTask);
    });
  }

  /** Stops the worker; flushes under way fail. */
  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    this.worker = null;
    if (worker !== null) await worker.terminate();
    this.failAll(new FlushThreadFailure('The flush thread was closed during a flush'));
  }

  private start(): Worker {
    const worker = new Worker(this.script);
    worker.unref();
    worker.on('message', ({ id, error }: FlushOutcome) => {
      const pending = this.pending.get(id);
      if (pending === undefined) return;
      this.pending.delete(id);
      if (this.pending.size === 0) worker.unref();
      if (error === null) pending.resolve();
      else pending.reject(new ServerError(`Flush failed: ${error}`));
    });
    // A dead worker fails what it was writing; the next flush starts another.
    worker.on('error', (error) => {
      if (this.worker === worker) this.worker = null;
      this.failAll(new FlushThreadFailure(`The flush thread failed: ${error.message}`));
    });
    worker.on('exit', (code) => {
      if (this.worker === worker) this.worker = null;
      this.failAll(new FlushThreadFailure(`The flush thread exited (code ${code})`));
    });
    return worker;
  }

  private failAll(error: Error): void {
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const { reject } of pending) reject(error);
  }
}
