/**
 * Validation: the scan of one replica's data in a token range that builds the Merkle
 * tree repair compares. It reads through the TableStore interface only, so it sees
 * what reads see — reconciled partitions, tombstones included, expired cells as they
 * are — and hashes every partition's canonical form (digest.ts) in (token, key) order.
 *
 * It shares the node with client traffic: it lets the event loop run every
 * VALIDATION_ROWS_PER_TURN_MAX rows, and its memory is one piece of a partition (at
 * most VALIDATION_ROWS_PER_PIECE rows: a wide partition is scanned and hashed piece by
 * piece, ScanOptions.rowsPerPiece) plus the tree (at most 2^15 leaf hashes, 1 MiB),
 * whatever the table holds. Like Cassandra's validation compaction it is throttled,
 * when given a throttle, by compaction_throughput: bytes hashed per second, shared by
 * the node's validations.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { ALL_ROWS } from '../model/clustering.js';
import { isEmptyPartition } from '../model/merge.js';
import type { Partition } from '../model/partition.js';
import type { KeyRange, ReadFilter, ScanOptions } from '../storage/engine.js';
import { CANONICAL_END, canonicalHead, canonicalRows } from './digest.js';
import { MerkleTree, type TokenRange } from './merkle.js';

/** Rows (and partitions) hashed before validation lets other work run. */
export const VALIDATION_ROWS_PER_TURN_MAX = 256;
/** The most rows of one partition validation holds at once. */
export const VALIDATION_ROWS_PER_PIECE = 1024;

/** Paces validation (lib/storage/compaction/throttle.ts's Throttle fits). */
export interface ValidationThrottle {
  consume(bytes: number): Promise<void>;
}

/** What validation needs of a table store (lib/storage/engine.ts's TableStore fits). */
export interface ScannableStore {
  scan(range: KeyRange, filter: ReadFilter, options?: ScanOptions): AsyncIterable<Partition>;
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
  rowsPerPiece = VALIDATION_ROWS_PER_PIECE,
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
  let hashed = 0;
  /** The partition being hashed: pieces after its first have its key. */
  let open: { readonly key: Buffer; readonly token: bigint } | null = null;
  const add = (token: bigint, bytes: Buffer): void => {
    hashed += bytes.length;
    tree.add(token, bytes);
  };
  for await (const piece of store.scan(keys, filter, { rowsPerPiece })) {
    if (open !== null && piece.key.equals(open.key)) {
      add(open.token, canonicalRows(piece.rows));
    } else {
      if (open !== null) add(open.token, CANONICAL_END);
      // A partition holding nothing comes as one empty piece.
      open = null;
      if (!isEmptyPartition(piece)) {
        open = { key: piece.key, token: piece.token };
        add(piece.token, canonicalHead(piece));
        add(piece.token, canonicalRows(piece.rows));
      }
    }
    sinceTurn += piece.rows.length + 1;
    if (sinceTurn >= VALIDATION_ROWS_PER_TURN_MAX) {
      sinceTurn = 0;
      await throttle?.consume(hashed);
      hashed = 0;
      await nextTurn();
    }
  }
  if (open !== null) add(open.token, CANONICAL_END);
  // The last partial batch is paid for too, so back-to-back validations keep the pace.
  await throttle?.consume(hashed);
  return tree;
}
