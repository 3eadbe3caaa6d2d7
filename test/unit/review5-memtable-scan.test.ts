/**
 * A memtable scan running while writes land (leaf sorts and splits under it) returns
 * every key present when it started once, in (token, key) order, whether the entries
 * are kept as bytes or as objects and whatever tokens collide.
 */
import t from 'tap';
import type { Partition } from '../../lib/model/partition.js';
import { compareKeys, tokenOfWords } from '../../lib/model/token.js';
import { seededRandom } from '../../lib/model/random.js';
import { Memtable } from '../../lib/storage/memtable.js';
import { encodeMutationLocated } from '../../lib/storage/mutation-codec.js';
import { eventsTable, int, partitionOf, row, update } from './fixtures/tables.js';

const table = eventsTable();

for (const mode of ['bytes', 'objects', 'mixed'] as const) {
  t.test(`a scan concurrent with writes sees each earlier key once, in order (${mode})`, async (t) => {
    const next = seededRandom(mode.length * 11);
    const memtable = new Memtable(table);
    let written = 0;
    const tokenOf = (k: number) => tokenOfWords(((k % 7) - 3) * 0x01000000 + (k % 3), k % 5 === 0 ? 0 : (k % 11) * 12345);
    const write = (k: number, ts: number) => {
      const p: Partition = { ...partitionOf(int(k), { rows: [row([int(ts % 3)], { marker: ts, cells: { v: [ts, `v${ts}`] } })] }), token: tokenOf(k) };
      const withBytes = mode === 'bytes' || (mode === 'mixed' && next() < 0.7);
      if (withBytes) {
        const { bytes, bodies } = encodeMutationLocated([update(table, p)]);
        memtable.apply(p, bytes, bodies[0], bodies[1]);
      } else {
        memtable.apply(p);
      }
      written++;
    };
    for (let k = 0; k < 3000; k++) write(k * 2, 1);
    const before = new Set(Array.from({ length: 3000 }, (_, k) => int(k * 2).toString('hex')));
    const seen: { token: bigint; key: Buffer }[] = [];
    let extra = 20000;
    for await (const source of memtable.scan({ start: null, startInclusive: true, end: null, endInclusive: true })) {
      seen.push({ token: source.token, key: Buffer.from(source.key) });
      for (let i = 0; i < 5 && extra > 0; i++, extra--) write(Math.floor(next() * 40000), 2 + i);
    }
    let outOfOrder = 0;
    for (let i = 1; i < seen.length; i++) if (compareKeys(seen[i - 1].token, seen[i - 1].key, seen[i].token, seen[i].key) >= 0) outOfOrder++;
    const keys = new Set(seen.map((s) => s.key.toString('hex')));
    const missing = [...before].filter((k) => !keys.has(k)).length;
    t.equal(outOfOrder, 0, 'strictly ascending, no key twice');
    t.equal(missing, 0, 'every key written before the scan');
    let lookups = 0;
    for (const s of seen) if (memtable.get(s.key, s.token) === null) lookups++;
    t.equal(lookups, 0, 'every key seen is found by a point read');
    t.ok(written > 3000);
  });
}
