/**
 * Validation: the scan of one replica's data in a token range that builds the Merkle
 * tree repair compares. It reads through the TableStore interface only, so it sees
 * what reads see — reconciled partitions, tombstones included, expired cells as they
 * are — and hashes every partition's canonical form (digest.ts) in (token, key) order.
 *
 * It shares the node with client traffic: it lets the event loop run every
 * VALIDATION_PARTITIONS_PER_TURN_MAX partitions, and its memory is one partition plus
 * the tree (at most 2^15 leaf hashes, 1 MiB), whatever the table holds. Limit: the
 * storage scan hands out whole partitions, so one very wide partition is held in
 * memory and hashed in one turn; paging inside a partition needs a scan that resumes
 * within a partition, which TableStore does not offer yet. Like Cassandra's validation
 * compaction it is throttled, when given a throttle, by compaction_throughput: bytes
 * hashed per second, shared by the node's validations.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { ALL_ROWS } from '../model/clustering.js';
import { isEmptyPartition } from '../model/merge.js';
import type { Partition } from '../model/partition.js';
import type { KeyRange, ReadFilter } from '../storage/engine.js';
import { canonicalBytes } from './digest.js';
import { MerkleTree, type TokenRange } from './merkle.js';

/** Partitions hashed before validation lets other work run. */
export const VALIDATION_PARTITIONS_PER_TURN_MAX = 64;

/** Paces validation (lib/storage/compaction/throttle.ts's Throttle fits). */
export interface ValidationThrottle {
  consume(bytes: number): Promise<void>;
}

/** What validation needs of a table store (lib/storage/engine.ts's TableStore fits). */
export interface ScannableStore {
  scan(range: KeyRange, filter: ReadFilter): AsyncIterable<Partition>;
}

/**
 * Builds the Merkle tree of `store`'s data in `range` (non-wrapping, start exclusive).
 * `nowSeconds` only fills the read filter: with no row limit, nothing is dropped for
 * being expired, so replicas validating at different moments still agree.
 * Partitions holding nothing (no data, no tombstone) are skipped: to repair they are
 * the same as absent ones, which a replica that never saw the key has.
 */
export async function validate(
  store: ScannableStore,
  range: TokenRange,
  depth: number,
  nowSeconds: number,
  throttle?: ValidationThrottle,
): Promise<MerkleTree> {
  const tree = new MerkleTree(range, depth);
  // (start, end] by token: a null key after an exclusive start skips every key of the
  // start token; after an inclusive end it takes every key of the end token.
  const keys: KeyRange = {
    start: { token: range.start, key: null },
    startInclusive: false,
    end: { token: range.end, key: null },
    endInclusive: true,
  };
  const filter: ReadFilter = { slices: [ALL_ROWS], reversed: false, rowLimit: Infinity, nowSeconds };
  let sinceTurn = 0;
  const hashed = { bytes: 0 };
  for await (const partition of store.scan(keys, filter)) {
    if (!isEmptyPartition(partition)) {
      // The leaf hashes the partitions' canonical forms themselves: one hash per leaf,
      // not a digest per partition as well.
      const bytes = canonicalBytes(partition);
      hashed.bytes += bytes.length;
      tree.add(partition.token, bytes);
    }
    if (++sinceTurn === VALIDATION_PARTITIONS_PER_TURN_MAX) {
      sinceTurn = 0;
      await throttle?.consume(hashed.bytes);
      hashed.bytes = 0;
      await nextTurn();
    }
  }
  // The last partial batch is paid for too, so back-to-back validations keep the pace.
  await throttle?.consume(hashed.bytes);
  return tree;
}
