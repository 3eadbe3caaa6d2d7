/**
 * The flush thread's body (started by flush-thread.ts): writes an SSTable from a
 * memtable's update arena (flush-source.ts) with the real file system, and answers with
 * the task id and, on failure, the error's message (the partial SSTable removed).
 */
import { parentPort } from 'node:worker_threads';
import { decodeTable } from '../system/schema-codec.js';
import { partitionsFromUpdates } from './flush-source.js';
import type { FlushTask, FlushOutcome } from './flush-thread.js';
import { NodeFileSystem } from './node-fs.js';
import { SSTableWriter } from './sstable/writer.js';

const fs = new NodeFileSystem();
const port = parentPort!;

async function write(task: FlushTask): Promise<void> {
  const table = decodeTable(task.keyspace, task.table, 'flushed table');
  const writer = await SSTableWriter.create(fs, task.dir, task.generation, table, { expectedPartitions: task.expectedPartitions, level: 0 });
  try {
    await writer.appendAll(partitionsFromUpdates(table, task.updates, true));
    await writer.finishFiles();
  } catch (error) {
    await writer.abort().catch(() => undefined);
    throw error;
  }
}

port.on('message', (task: FlushTask) => {
  write(task).then(
    () => port.postMessage({ id: task.id, error: null } satisfies FlushOutcome),
    (error: unknown) => port.postMessage({ id: task.id, error: error instanceof Error ? error.message : String(error) } satisfies FlushOutcome),
  );
});
