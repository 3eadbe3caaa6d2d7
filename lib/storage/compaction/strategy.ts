/**
 * The compaction strategy of a table, chosen by its `compaction` option. Strategies
 * are pure decision makers: given the table's SSTables (statistics and key ranges)
 * they return what to compact next; the engine runs the plan (task.ts).
 *
 * A strategy keeps a little memory between calls (when it first saw each SSTable,
 * where leveled compaction stopped in each level), so the engine keeps one per table
 * and builds a new one when the table's options change.
 */
import type { TableMetadata } from '../../schema/metadata.js';
import { LeveledStrategy } from './lcs.js';
import { parseLeveledOptions, parseSizeTieredOptions } from './options.js';
import type { CompactionStrategy } from './plan.js';
import { SizeTieredStrategy } from './stcs.js';

export { validateCompactionOptions } from './options.js';
export type { CompactionCandidate, CompactionPlan, CompactionStats, CompactionStrategy } from './plan.js';
export { LeveledStrategy } from './lcs.js';
export { SizeTieredStrategy } from './stcs.js';

export function strategyFor(table: TableMetadata): CompactionStrategy {
  const { class: cls, options } = table.options.compaction;
  const gcGraceSeconds = table.options.gcGraceSeconds;
  switch (cls) {
    case 'LeveledCompactionStrategy':
      return new LeveledStrategy(parseLeveledOptions(options), gcGraceSeconds);
    // Time-window compaction is not implemented yet: such tables compact size-tiered,
    // which keeps every guarantee and only costs more I/O on time-series data.
    case 'TimeWindowCompactionStrategy':
    case 'SizeTieredCompactionStrategy':
      return new SizeTieredStrategy(parseSizeTieredOptions(options), gcGraceSeconds);
  }
}
