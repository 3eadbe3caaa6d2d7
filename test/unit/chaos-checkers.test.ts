/**
 * The chaos suite's checkers and fault schedule, on crafted histories: each checker
 * passes a valid history and flags the violation it exists for; the schedule is a pure
 * function of the seed.
 */
import t from 'tap';
import { checkConvergence, checkDelete, checkRegister, checkSet, TIMESTAMP_SLACK_MS } from '../../scripts/chaos/checkers.js';
import { emptyHistory, type FinalReadRecord, type History, type OpRecord, parseHistory, type RepairRecord } from '../../scripts/chaos/history.js';
import { NEMESIS_KINDS, partitionCuts, planFaults, QUIET_MS_MIN, WARMUP_MS } from '../../scripts/chaos/nemesis/schedule.js';
import { seededRandom } from '../../lib/model/random.js';
import { parseOptions, replayArguments } from '../../scripts/chaos/options.js';

const T0 = 1_700_000_000_000;
let nextId = 1;

function op(fields: Partial<OpRecord> & Pick<OpRecord, 'workload' | 'f' | 'key' | 'invokeMs' | 'completeMs'>): OpRecord {
  return { type: 'op', id: nextId++, client: 0, node: 'node1', clockOffsetMs: 0, outcome: 'ok', ...fields };
}

function final(workload: FinalReadRecord['workload'], key: number, values: number[], replica = 'ALL', writetimeUs?: number): FinalReadRecord {
  return { type: 'final', workload, key, replica, atMs: T0 + 100_000, ok: true, read: { values, ...(writetimeUs === undefined ? {} : { writetimeUs }) } };
}

function history(ops: OpRecord[], finals: FinalReadRecord[] = [], repairs: RepairRecord[] = []): History {
  return { ...emptyHistory(), ops, finals, repairs };
}

const us = (ms: number) => ms * 1000;

t.test('set: an acknowledged add missing after the heal is a lost write', async (t) => {
  const add1 = op({ workload: 'set', f: 'add', key: 1, value: 10, invokeMs: T0, completeMs: T0 + 5 });
  const add2 = op({ workload: 'set', f: 'add', key: 1, value: 11, invokeMs: T0 + 1, completeMs: T0 + 6 });
  const unknown = op({ workload: 'set', f: 'add', key: 1, value: 12, invokeMs: T0 + 2, completeMs: T0 + 3000, outcome: 'unknown' });
  const valid = checkSet(history([add1, add2, unknown], [final('set', 1, [10, 11])]));
  t.ok(valid.valid, 'every acknowledged add is present; the unknown one may be absent');
  const lost = checkSet(history([add1, add2, unknown], [final('set', 1, [10, 12])]));
  t.notOk(lost.valid);
  t.same(lost.violations.map((v) => [v.kind, v.ops]), [['lost-write', [add2.id]]], 'the missing acknowledged add is named');
  t.equal(lost.stats.unknown_adds_present, 1, 'an unknown add that took effect is counted, not flagged');
});

t.test('set: a read returning an element nobody added is flagged', async (t) => {
  const add = op({ workload: 'set', f: 'add', key: 2, value: 20, invokeMs: T0, completeMs: T0 + 5 });
  const read = op({ workload: 'set', f: 'read', key: 2, invokeMs: T0 + 10, completeMs: T0 + 12, read: { values: [20, 99] } });
  const result = checkSet(history([add, read], [final('set', 2, [20])]));
  t.same(result.violations.map((v) => v.kind), ['phantom-value']);
});

t.test('set: a QUORUM read that starts after an acknowledged add must see it', async (t) => {
  const add = op({ workload: 'set', f: 'add', key: 3, value: 30, invokeMs: T0, completeMs: T0 + 5 });
  const concurrent = op({ workload: 'set', f: 'read', key: 3, invokeMs: T0 + 4, completeMs: T0 + 8, read: { values: [] } });
  const after = op({ workload: 'set', f: 'read', key: 3, invokeMs: T0 + 6, completeMs: T0 + 8, read: { values: [] } });
  t.ok(checkSet(history([add, concurrent], [final('set', 3, [30])])).valid, 'a read concurrent with the add may miss it');
  const stale = checkSet(history([add, concurrent, after], [final('set', 3, [30])]));
  t.same(stale.violations.map((v) => [v.kind, v.ops]), [['stale-read', [after.id, add.id]]]);
});

t.test('register: a QUORUM read after an acknowledged write sees it or a later value', async (t) => {
  const w1 = op({ workload: 'register', f: 'write', key: 1, value: 1, invokeMs: T0, completeMs: T0 + 10 });
  const w2 = op({ workload: 'register', f: 'write', key: 1, value: 2, invokeMs: T0 + 20, completeMs: T0 + 30 });
  const sees2 = op({ workload: 'register', f: 'read', key: 1, invokeMs: T0 + 40, completeMs: T0 + 45, read: { values: [2], writetimeUs: us(T0 + 25) } });
  const during = op({ workload: 'register', f: 'read', key: 1, invokeMs: T0 + 25, completeMs: T0 + 45, read: { values: [1], writetimeUs: us(T0 + 5) } });
  const ok = checkRegister(history([w1, w2, sees2, during], [final('register', 1, [2], 'ALL', us(T0 + 25))]));
  t.ok(ok.valid, 'the newest value after the write, the older one during it');
  const stale = op({ workload: 'register', f: 'read', key: 1, invokeMs: T0 + 50, completeMs: T0 + 55, read: { values: [1], writetimeUs: us(T0 + 5) } });
  const result = checkRegister(history([w1, w2, sees2, stale], [final('register', 1, [2], 'ALL', us(T0 + 25))]));
  t.same(result.violations.map((v) => [v.kind, v.ops]), [['stale-read', [stale.id, w2.id, w1.id]]], 'the stale read and both writes are named');
  const empty = op({ workload: 'register', f: 'read', key: 1, invokeMs: T0 + 50, completeMs: T0 + 55, read: { values: [] } });
  t.same(checkRegister(history([w1, w2, empty], [final('register', 1, [2])])).violations.map((v) => v.kind), ['stale-read'], 'seeing nothing is stale too');
});

t.test('register: under clock skew, an earlier write with a higher timestamp may win', async (t) => {
  // w2 ran on a node whose clock is 3 s behind: it completed after w1 but has the lower timestamp.
  const w1 = op({ workload: 'register', f: 'write', key: 1, value: 1, invokeMs: T0, completeMs: T0 + 10 });
  const w2 = op({ workload: 'register', f: 'write', key: 1, value: 2, invokeMs: T0 + 20, completeMs: T0 + 30, node: 'node2', clockOffsetMs: -3000 });
  const read = op({ workload: 'register', f: 'read', key: 1, invokeMs: T0 + 40, completeMs: T0 + 45, read: { values: [1], writetimeUs: us(T0 + 5) } });
  t.ok(checkRegister(history([w1, w2, read], [final('register', 1, [1], 'ALL', us(T0 + 5))])).valid, 'last write wins by timestamp, not by real time');
  const noSkew = { ...w2, clockOffsetMs: 0 };
  t.notOk(checkRegister(history([w1, noSkew, read], [final('register', 1, [1], 'ALL', us(T0 + 5))])).valid, 'without the skew the same read is stale');
});

t.test('register: a value nobody wrote is flagged', async (t) => {
  const w1 = op({ workload: 'register', f: 'write', key: 4, value: 7, invokeMs: T0, completeMs: T0 + 10 });
  const read = op({ workload: 'register', f: 'read', key: 4, invokeMs: T0 + 20, completeMs: T0 + 25, read: { values: [8], writetimeUs: us(T0 + 22) } });
  t.same(checkRegister(history([w1, read], [final('register', 4, [7])])).violations.map((v) => v.kind), ['phantom-value']);
});

t.test('delete: a deleted row reappearing after the repair is flagged', async (t) => {
  const insert = op({ workload: 'delete', f: 'insert', key: 5, value: 5, invokeMs: T0, completeMs: T0 + 10 });
  const del = op({ workload: 'delete', f: 'delete', key: 5, invokeMs: T0 + 20, completeMs: T0 + 30 });
  const gone = checkDelete(history([insert, del], [final('delete', 5, [])]));
  t.ok(gone.valid, 'the row stays deleted');
  const back = checkDelete(history([insert, del], [final('delete', 5, [5], 'ALL', us(T0 + 5))]));
  t.same(back.violations.map((v) => [v.kind, v.ops]), [['deleted-row-resurrected', [del.id, insert.id]]]);
  const read = op({ workload: 'delete', f: 'read', key: 5, invokeMs: T0 + 40, completeMs: T0 + 45, read: { values: [5], writetimeUs: us(T0 + 5) } });
  t.same(checkDelete(history([insert, del, read], [final('delete', 5, [])])).violations.map((v) => v.kind), ['deleted-row-visible'], 'a QUORUM read after the delete');
});

t.test('delete: an acknowledged insert never deleted must survive', async (t) => {
  const insert = op({ workload: 'delete', f: 'insert', key: 6, value: 6, invokeMs: T0, completeMs: T0 + 10 });
  const failedDelete = op({ workload: 'delete', f: 'delete', key: 6, invokeMs: T0 + 20, completeMs: T0 + 21, outcome: 'fail' });
  t.ok(checkDelete(history([insert, failedDelete], [final('delete', 6, [6], 'ALL', us(T0 + 5))])).valid);
  t.same(checkDelete(history([insert, failedDelete], [final('delete', 6, [])])).violations.map((v) => v.kind), ['lost-write']);
});

t.test('delete: a delete that lost to a skewed insert is a note, not a violation', async (t) => {
  const insert = op({ workload: 'delete', f: 'insert', key: 7, value: 7, invokeMs: T0, completeMs: T0 + 10, clockOffsetMs: 4000 });
  const del = op({ workload: 'delete', f: 'delete', key: 7, invokeMs: T0 + 20, completeMs: T0 + 30 });
  const result = checkDelete(history([insert, del], [final('delete', 7, [7], 'ALL', us(T0 + 4005))]));
  t.ok(result.valid);
  t.equal(result.stats.deletes_lost_to_skew, 1);
});

t.test('convergence: replicas that differ after the repair, or a Merkle tree that still differs, are flagged', async (t) => {
  const repair = (round: number, node: string, rangesDiffering = 0): RepairRecord => ({
    type: 'repair', round, node, atMs: T0, state: 'succeeded', rangesTotal: 4, rangesDiffering, rangesFailed: 0, errors: [],
  });
  const same = [final('set', 1, [1, 2], 'node1'), final('set', 1, [1, 2], 'node2'), final('set', 1, [1, 2], 'node3')];
  t.ok(checkConvergence(history([], same, [repair(1, 'node1', 2), repair(2, 'node1')]), 3).valid, 'identical replicas, a clean second repair');
  const differ = [final('set', 1, [1, 2], 'node1'), final('set', 1, [1], 'node2'), final('set', 1, [1, 2], 'node3')];
  t.same(checkConvergence(history([], differ, []), 3).violations.map((v) => v.kind), ['replicas-differ']);
  const writetimes = [final('register', 1, [3], 'node1', 10), final('register', 1, [3], 'node2', 11), final('register', 1, [3], 'node3', 10)];
  t.same(checkConvergence(history([], writetimes, []), 3).violations.map((v) => v.kind), ['replicas-differ'], 'same value, different write time');
  t.same(checkConvergence(history([], same, [repair(2, 'node2', 1)]), 3).violations.map((v) => v.kind), ['merkle-differs']);
  t.same(checkConvergence(history([], same.slice(0, 2), []), 3).violations.map((v) => v.kind), ['replica-missing']);
});

t.test('timestamp bounds use the coordinator clock offset and a small slack', async (t) => {
  const w = op({ workload: 'register', f: 'write', key: 9, value: 1, invokeMs: T0, completeMs: T0 + 10, clockOffsetMs: 100 });
  const { timestampFloorUs, timestampCeilingUs } = await import('../../scripts/chaos/checkers.js');
  t.equal(timestampFloorUs(w), us(T0 + 100 - TIMESTAMP_SLACK_MS));
  t.equal(timestampCeilingUs(w), us(T0 + 110 + TIMESTAMP_SLACK_MS));
  t.equal(timestampCeilingUs({ ...w, outcome: 'unknown' }), Infinity, 'an unknown write may take effect any time later');
});

t.test('the fault schedule is a pure function of the seed', async (t) => {
  const options = { durationMs: 30_000, nodes: 5, nemeses: [...NEMESIS_KINDS] };
  const a = planFaults(42, options);
  t.same(planFaults(42, options), a, 'same seed, same schedule');
  t.not(JSON.stringify(planFaults(43, options)), JSON.stringify(a), 'another seed, another schedule');
  t.ok(a.length >= 2, 'a 30 s window holds several faults');
  t.equal(a[0].startMs, WARMUP_MS, 'faults start after the warm-up');
  for (const [i, window] of a.entries()) {
    t.ok(window.stopMs <= options.durationMs - QUIET_MS_MIN, `window ${window.id} stops before the end`);
    if (i > 0) t.ok(window.startMs > a[i - 1].stopMs, `window ${window.id} starts after the previous one stopped`);
    const down = window.faults.flatMap((fault) => ('nodes' in fault ? fault.nodes : []));
    t.ok(new Set(down).size === down.length && down.length <= 2, `window ${window.id} stops at most a minority of nodes, each once`);
  }
  const kinds = new Set(planFaults(7, { ...options, durationMs: 120_000 }).flatMap((w) => w.faults.map((f) => f.kind)));
  t.same([...kinds].sort(), [...NEMESIS_KINDS].sort(), 'every enabled kind takes its turn');
  t.same(planFaults(1, { ...options, nemeses: [] }), [], 'no nemesis, no faults');
});

t.test('partition shapes cut the links they describe', async (t) => {
  const random = seededRandom(3);
  const linked = (cuts: [number, number][], a: number, b: number) => !cuts.some(([x, y]) => (x === a && y === b) || (x === b && y === a));
  const halves = partitionCuts(random, 5, 'halves');
  t.equal(halves.length, 6, 'halves of 2 and 3 nodes: 6 links cut');
  t.equal(partitionCuts(random, 5, 'isolate').length, 4, 'one node cut from 4');
  t.equal(partitionCuts(random, 5, 'bridge').length, 4, 'sides of 2 and 2 with a bridge: 4 links cut');
  const ring = partitionCuts(random, 5, 'majorities-ring');
  for (let node = 0; node < 5; node++) {
    const sees = [0, 1, 2, 3, 4].filter((other) => other === node || linked(ring, node, other));
    t.equal(sees.length, 3, `node ${node} sees a majority (itself and two others)`);
  }
});

t.test('options: replay arguments parse back to the same run', async (t) => {
  const options = parseOptions(['--seed', '12', '--nemesis', 'all', '--workload', 'set,register', '--time', '20'])!;
  t.same(options.nemeses, [...NEMESIS_KINDS]);
  t.same(parseOptions(replayArguments(options)), { ...options, out: 'chaos-runs/12' });
  t.throws(() => parseOptions(['--nemesis', 'fire']), /unknown 'fire'/);
  t.throws(() => parseOptions(['--rf', '6']), /--rf must be an integer from 1 to 5/);
});

t.test('a history written as JSON lines reads back', async (t) => {
  const records = [op({ workload: 'set', f: 'add', key: 1, value: 1, invokeMs: T0, completeMs: T0 + 1 }), final('set', 1, [1])];
  const parsed = parseHistory(records.map((record) => JSON.stringify(record)).join('\n'));
  t.equal(parsed.ops.length, 1);
  t.equal(parsed.finals.length, 1);
});
