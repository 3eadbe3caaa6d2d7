/**
 * `sibyl tablestats [KEYSPACE [TABLE…]]`: per-table statistics in nodetool tablestats'
 * layout (one block per keyspace, one indented block per table). Latencies are
 * percentiles of this node's local reads and writes, "NaN ms" before the first one, as
 * nodetool prints them.
 */
import type { LatencySummary, TableStatsEntry } from '../../lib/api/admin-service.js';
import { adminCommand, scopeOf } from './command.js';
import { humanBytes } from './sizes.js';

const SEPARATOR = '----------------\n';

function latency(summary: LatencySummary, percentile: 'p50Ms' | 'p99Ms'): string {
  return summary.count === 0 ? 'NaN ms' : `${summary[percentile].toFixed(3)} ms`;
}

function tableBlock(entry: TableStatsEntry, size: (bytes: number) => string): string {
  const lines: [string, string | number][] = [
    ['Table', entry.table],
    ['SSTable count', entry.sstableCount],
    ['Space used (live)', size(entry.liveBytes)],
    ['Space used (total)', size(entry.totalBytes)],
    ['Number of partitions (estimate)', entry.partitionsEstimate],
  ];
  if (entry.memtableCells !== undefined) lines.push(['Memtable cell count', entry.memtableCells]);
  lines.push(
    ['Memtable data size', size(entry.memtableBytes)],
    ['Local read count', entry.readLatency.count],
    ['Local read latency (p50)', latency(entry.readLatency, 'p50Ms')],
    ['Local read latency (p99)', latency(entry.readLatency, 'p99Ms')],
    ['Local write count', entry.writeLatency.count],
    ['Local write latency (p50)', latency(entry.writeLatency, 'p50Ms')],
    ['Local write latency (p99)', latency(entry.writeLatency, 'p99Ms')],
    ['Pending compactions', entry.compactionsPending],
  );
  if (entry.compactionsRunning !== undefined) lines.push(['Running compactions', entry.compactionsRunning]);
  if (entry.compactionProgress !== undefined) {
    const { bytesDone, bytesTotal } = entry.compactionProgress;
    const percent = bytesTotal === 0 ? 100 : (100 * bytesDone) / bytesTotal;
    lines.push(['Compaction progress', `${size(bytesDone)} of ${size(bytesTotal)} (${percent.toFixed(1)}%)`]);
  }
  lines.push(['Bloom filter false positives', entry.bloomFalsePositives], ['Bloom filter false ratio', entry.bloomFalseRatio.toFixed(5)]);
  return lines.map(([label, value]) => `\t\t${label}: ${value}\n`).join('');
}

function describe(entries: readonly TableStatsEntry[], size: (bytes: number) => string): string {
  const byKeyspace = new Map<string, TableStatsEntry[]>();
  for (const entry of entries) {
    const tables = byKeyspace.get(entry.keyspace);
    if (tables === undefined) byKeyspace.set(entry.keyspace, [entry]);
    else tables.push(entry);
  }
  let out = `Total number of tables: ${entries.length}\n${SEPARATOR}`;
  for (const [keyspace, tables] of byKeyspace) {
    const reads = tables.reduce((sum, t) => sum + t.readLatency.count, 0);
    const writes = tables.reduce((sum, t) => sum + t.writeLatency.count, 0);
    out += `Keyspace : ${keyspace}\n\tRead Count: ${reads}\n\tWrite Count: ${writes}\n`;
    out += tables.map((table) => tableBlock(table, size)).join('\n');
    out += SEPARATOR;
  }
  return out;
}

export const tablestats = adminCommand({
  name: 'tablestats',
  summary: 'show per-table statistics: SSTables, disk space, partitions, memtable, latencies, bloom filters',
  positionals: '[KEYSPACE [TABLE…]]',
  positionalsMax: Infinity,
  flags: { 'human-readable': { type: 'boolean', short: 'H', description: 'sizes in KiB, MiB, GiB instead of bytes' } },
  action: async ({ client, positionals, flags }) => {
    const { keyspace, tables } = scopeOf(positionals);
    const result = await client.get<{ tables: TableStatsEntry[] }>('/v1/admin/tablestats', { keyspace, table: tables });
    const size = flags['human-readable'] === true ? humanBytes : String;
    return { human: describe(result.tables, size), json: result.tables };
  },
});
