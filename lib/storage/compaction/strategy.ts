/**
 * The compaction strategy of a table, chosen by its `compaction` option. Strategies
 * are pure decision makers: given the table's SSTables (statistics and key ranges)
 * they return what to compact next; the engine runs the plan (task.ts).
 *
 * A strategy keeps a little memory between calls (when it first saw each SSTable,
 * where leveled compaction stopped in each level, when it last looked for expired
 * SSTables), so the engine keeps one per table and builds a new one when the table's
 * options change.
 */
import type { TableMetadata } from '../../schema/metadata.js';
import { LeveledStrategy } from './lcs.js';
import { parseLeveledOptions, parseSizeTieredOptions, parseTimeWindowOptions } from './options.js';
import type { CompactionStrategy } from './plan.js';
import { SizeTieredStrategy } from './stcs.js';
import { TimeWindowStrategy } from './twcs.js';

export { validateCompactionOptions } from './options.js';
export type { CompactionCandidate, CompactionPlan, CompactionStats, CompactionStrategy } from './plan.js';
export { LeveledStrategy } from './lcs.js';
export { SizeTieredStrategy } from './stcs.js';
export { TimeWindowStrategy } from './twcs.js';

export function strategyFor(table: TableMetadata): CompactionStrategy {
  const { class: cls, options } = table.options.compaction;
  const gcGraceSeconds = table.options.gcGraceSeconds;
  switch (cls) {
    case 'LeveledCompactionStrategy':
      return new LeveledStrategy(parseLeveledOptions(options), gcGraceSeconds);
    case 'TimeWindowCompactionStrategy':
      return new TimeWindowStrategy(parseTimeWindowOptions(options), gcGraceSeconds);
    case 'SizeTieredCompactionStrategy':
      return new SizeTieredStrategy(parseSizeTieredOptions(options), gcGraceSeconds);
  }
}
