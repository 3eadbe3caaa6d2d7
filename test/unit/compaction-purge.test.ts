import t from 'tap';
import { NO_DELETION_TIME, type Cell, type DeletionTime } from '../../lib/model/cell.js';
import { emptyRow, type Partition, type Row } from '../../lib/model/partition.js';
import {
  purgeContext,
  purgeHeader,
  purgePartitionForCompaction,
  purgeRow,
  type PurgeContext,
} from '../../lib/storage/compaction/purge.js';
import { int, text } from './fixtures/tables.js';
import { keyOf } from './fixtures/compaction.js';

const NOW = 1_000_000;
const GC_GRACE = 1000;
const GC_BEFORE = NOW - GC_GRACE;
/** Every tombstone below is written at this timestamp (µs). */
const TS = 500;

const LOCAL_DELETION_TIMES = {
  'within gc grace': GC_BEFORE + 10,
  'past gc grace': GC_BEFORE - 10,
} as const;
const OUTSIDE_DATA = {
  'no data outside': Infinity,
  'only newer data outside': TS + 1,
  'data as old outside': TS,
  'older data outside': TS - 1,
} as const;

const deletion = (localDeletionTime: number): DeletionTime => ({ markedForDeleteAt: TS, localDeletionTime });
const liveValue = (timestamp = TS): Cell => ({ timestamp, value: text('v'), ttl: 0, localDeletionTime: NO_DELETION_TIME });

function rowWith(parts: Partial<Row>): Row {
  return { ...emptyRow([int(1)]), ...parts };
}

function partitionWith(parts: Partial<Partition>): Partition {
  return { ...keyOf(1), deletion: null, staticRow: null, rangeTombstones: [], rows: [], ...parts };
}

/**
 * One kind of tombstone in a partition, and where to find it after purging. Each
 * partition also holds a live cell newer than the tombstone, which must survive.
 */
interface TombstoneKind {
  build(localDeletionTime: number): Partition;
  present(purged: Partition | null): boolean;
}

const newer = liveValue(TS + 100);
const withLiveRow = (parts: Partial<Partition>): Partition =>
  partitionWith({ ...parts, rows: [...(parts.rows ?? []), rowWith({ clustering: [int(9)], cells: new Map([['b', newer]]) })] });

const KINDS: Record<string, TombstoneKind> = {
  'cell tombstone': {
    build: (ldt) => withLiveRow({ rows: [rowWith({ cells: new Map([['a', { timestamp: TS, value: null, ttl: 0, localDeletionTime: ldt }]]) })] }),
    present: (p) => p?.rows[0].cells.has('a') === true,
  },
  'row deletion': {
    build: (ldt) => withLiveRow({ rows: [rowWith({ deletion: deletion(ldt) })] }),
    present: (p) => p?.rows[0].deletion != null,
  },
  'range tombstone': {
    build: (ldt) =>
      withLiveRow({ rangeTombstones: [{ start: { prefix: [int(0)], inclusive: true }, end: { prefix: [int(5)], inclusive: true }, deletion: deletion(ldt) }] }),
    present: (p) => (p?.rangeTombstones.length ?? 0) > 0,
  },
  'complex deletion': {
    build: (ldt) => withLiveRow({ rows: [rowWith({ complex: new Map([['s', { deletion: deletion(ldt), cells: [] }]]) })] }),
    present: (p) => p?.rows[0].complex.get('s')?.deletion != null,
  },
  'collection element tombstone': {
    build: (ldt) =>
      withLiveRow({
        rows: [rowWith({ complex: new Map([['s', { deletion: null, cells: [{ timestamp: TS, value: null, ttl: 0, localDeletionTime: ldt, path: int(3) }] }]]) })],
      }),
    present: (p) => p?.rows[0].complex.get('s')?.cells.length === 1,
  },
  'partition deletion': {
    build: (ldt) => withLiveRow({ deletion: deletion(ldt) }),
    present: (p) => p?.deletion != null,
  },
  'static cell tombstone': {
    build: (ldt) => withLiveRow({ staticRow: { ...emptyRow([]), cells: new Map([['st', { timestamp: TS, value: null, ttl: 0, localDeletionTime: ldt }]]) } }),
    present: (p) => p?.staticRow != null,
  },
  'expired row marker': {
    build: (ldt) => withLiveRow({ rows: [rowWith({ liveness: { timestamp: TS, ttl: 60, localDeletionTime: ldt } })] }),
    present: (p) => p?.rows[0].liveness != null,
  },
};

t.test('a tombstone is dropped only past gc grace and when nothing outside is as old (every kind)', async (t) => {
  for (const [kind, { build, present }] of Object.entries(KINDS)) {
    for (const [grace, ldt] of Object.entries(LOCAL_DELETION_TIMES)) {
      for (const [outside, maxPurgeable] of Object.entries(OUTSIDE_DATA)) {
        const context = purgeContext(NOW, GC_GRACE, maxPurgeable);
        const purged = purgePartitionForCompaction(build(ldt), context);
        const dropped = grace === 'past gc grace' && maxPurgeable > TS;
        t.equal(present(purged), !dropped, `${kind}, ${grace}, ${outside}: ${dropped ? 'dropped' : 'kept'}`);
        // The newer live data is never touched.
        t.same(purged?.rows.at(-1)?.cells.get('b'), newer, `${kind}, ${grace}, ${outside}: live data kept`);
      }
    }
  }
});

t.test('an expired TTL cell becomes a tombstone at its expiry, then is dropped past gc grace', async (t) => {
  const expiring = (expiry: number): Cell => ({ timestamp: TS, value: text('gone'), ttl: 60, localDeletionTime: expiry });
  const cellAfter = (cell: Cell, maxPurgeable: number) =>
    purgeRow(rowWith({ liveness: { timestamp: TS + 100, ttl: 0, localDeletionTime: NO_DELETION_TIME }, cells: new Map([['a', cell]]) }), purgeContext(NOW, GC_GRACE, maxPurgeable))!.cells.get('a');
  for (const [outside, maxPurgeable] of Object.entries(OUTSIDE_DATA)) {
    const purgeable = maxPurgeable > TS;
    // Expired within gc grace: its value goes, a tombstone with the same timestamp stays.
    const recent = expiring(GC_BEFORE + 10);
    t.same(
      cellAfter(recent, maxPurgeable),
      purgeable ? { timestamp: TS, value: null, ttl: 0, localDeletionTime: GC_BEFORE + 10, path: undefined } : recent,
      `expired within gc grace, ${outside}`,
    );
    // Expired before gcBefore: gone entirely when nothing outside is as old.
    const old = expiring(GC_BEFORE - 10);
    t.same(cellAfter(old, maxPurgeable), purgeable ? undefined : old, `expired past gc grace, ${outside}`);
  }
  // Not expired yet (expires exactly one second after now): untouched.
  const live = expiring(NOW + 1);
  t.equal(cellAfter(live, Infinity), live);
  // Expiring exactly now counts as expired, as it does for reads.
  t.equal(cellAfter(expiring(NOW), Infinity)!.value, null);
});

t.test('expired collection elements become tombstones like cells', async (t) => {
  const row = rowWith({
    liveness: { timestamp: TS + 100, ttl: 0, localDeletionTime: NO_DELETION_TIME },
    complex: new Map([
      [
        's',
        {
          deletion: null,
          cells: [
            { timestamp: TS, value: Buffer.alloc(0), ttl: 10, localDeletionTime: GC_BEFORE - 5, path: int(1) },
            { timestamp: TS, value: Buffer.alloc(0), ttl: 10, localDeletionTime: NOW - 5, path: int(2) },
            { timestamp: TS, value: Buffer.alloc(0), ttl: 10, localDeletionTime: NOW + 5, path: int(3) },
          ],
        },
      ],
    ]),
  });
  const purged = purgeRow(row, purgeContext(NOW, GC_GRACE, Infinity))!;
  t.same(
    purged.complex.get('s')!.cells.map((c) => [c.path!.readInt32BE(0), c.value === null, c.localDeletionTime]),
    [
      [2, true, NOW - 5],
      [3, false, NOW + 5],
    ],
  );
});

t.test('live data is never dropped, and an untouched row is returned as is', async (t) => {
  const context: PurgeContext = purgeContext(NOW, 0, Infinity);
  const row = rowWith({
    liveness: { timestamp: 1, ttl: 0, localDeletionTime: NO_DELETION_TIME },
    cells: new Map([
      ['a', liveValue(1)],
      ['b', { timestamp: 1, value: text('x'), ttl: 100, localDeletionTime: NOW + 1 }],
    ]),
    complex: new Map([['s', { deletion: null, cells: [{ timestamp: 1, value: Buffer.alloc(0), ttl: 0, localDeletionTime: NO_DELETION_TIME, path: int(1) }] }]]),
  });
  t.equal(purgeRow(row, context), row);
  const partition = partitionWith({ staticRow: { ...emptyRow([]), cells: new Map([['st', liveValue(1)]]) }, rows: [row] });
  t.equal(purgePartitionForCompaction(partition, context), partition);
  t.equal(purgeHeader(partition, context), partition);
});

t.test('a row or partition left with nothing is dropped entirely', async (t) => {
  const context = purgeContext(NOW, GC_GRACE, Infinity);
  const old = GC_BEFORE - 1;
  const row = rowWith({
    deletion: deletion(old),
    cells: new Map([['a', { timestamp: TS, value: null, ttl: 0, localDeletionTime: old }]]),
    complex: new Map([['s', { deletion: deletion(old), cells: [] }]]),
  });
  t.equal(purgeRow(row, context), null);
  t.equal(purgePartitionForCompaction(partitionWith({ deletion: deletion(old), rows: [row] }), context), null);
  // A tombstone still within gc grace keeps the partition.
  const kept = purgePartitionForCompaction(partitionWith({ deletion: deletion(NOW), rows: [row] }), context)!;
  t.same(kept.rows, []);
  t.same(kept.deletion, deletion(NOW));
});
