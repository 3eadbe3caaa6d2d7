/**
 * Review of 8861761 (and 4a7f14c): a cell with a long TTL — allowed up to
 * MAX_TTL_SECONDS (20 years) — expires after 2038, so its localDeletionTime is above
 * 2^31 - 1. The encoder writes it exactly (an int64 varint); the hand-written decoder
 * reads local_deletion_time as an int32 (low 32 bits, signed) and gets a negative
 * time: the cell reads as long expired. Before these commits only replay and internode
 * copies went through the decoder; now a memtable keeps a new key as bytes and decodes
 * it on every read, and the flush thread decodes what it writes, so the local write
 * itself is lost.
 */
import t from 'tap';
import { isRowLive } from '../../lib/model/merge.js';
import { ALL_ROWS } from '../../lib/model/clustering.js';
import { MAX_TTL_SECONDS } from '../../lib/model/cell.js';
import type { Row } from '../../lib/model/partition.js';
import { partitionsFromUpdates } from '../../lib/storage/flush-source.js';
import { Memtable } from '../../lib/storage/memtable.js';
import { encodeMutationLocated } from '../../lib/storage/mutation-codec.js';
import { NOW, eventsTable, int, partitionOf, row, update } from './fixtures/tables.js';

const table = eventsTable();
// NOW is 2023-11; 20 years on is 2043, past 2^31 seconds.
const longLived = () => partitionOf(int(1), { rows: [row([int(1)], { marker: 5, ttl: MAX_TTL_SECONDS, cells: { v: [5, 'kept'] } })] });

t.test('a row written with the longest TTL allowed is live when read back from the memtable', async (t) => {
  t.ok(NOW + MAX_TTL_SECONDS > 0x7fffffff, 'the expiry is past 2038');
  const memtable = new Memtable(table);
  const { bytes, bodies } = encodeMutationLocated([update(table, longLived())]);
  memtable.apply(longLived(), bytes, bodies[0], bodies[1]);
  const source = memtable.get(int(1), longLived().token)!;
  const rows: Row[] = [];
  for await (const r of source.rows([ALL_ROWS], false)) rows.push(r);
  t.equal(rows[0].liveness?.localDeletionTime, NOW + MAX_TTL_SECONDS, 'expiry of the row marker');
  t.equal(rows[0].cells.get('v')?.localDeletionTime, NOW + MAX_TTL_SECONDS, 'expiry of the cell');
  t.ok(isRowLive(rows[0], NOW + 1), 'the row is live a second later');
});

t.test('a flush rebuilt from the update arena keeps the longest TTL', async (t) => {
  const memtable = new Memtable(table);
  const { bytes, bodies } = encodeMutationLocated([update(table, longLived())]);
  memtable.apply(longLived(), bytes, bodies[0], bodies[1]);
  const [flushed] = [...partitionsFromUpdates(table, memtable.updates!.contents())];
  t.equal(flushed.rows[0].cells.get('v')?.localDeletionTime, NOW + MAX_TTL_SECONDS);
});
