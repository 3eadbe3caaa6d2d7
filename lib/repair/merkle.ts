/**
 * Merkle trees for anti-entropy repair: what a replica's data in one token range
 * hashes to, fine enough that comparing two replicas' trees names the small token
 * ranges where they differ, and nothing else has to be streamed.
 *
 * Pure code: no storage, no network. Validation (validation.ts) feeds partitions in
 * token order; repair sessions send trees with toBuffer/fromBuffer and stream the
 * ranges diff() returns.
 *
 * Shape: the range (start, end] (non-wrapping; a wrapping range is repaired as two)
 * is cut into 2^depth leaves of equal token width. A leaf's hash is SHA-256 over the
 * digests of its partitions, streamed in the order they were added, which is
 * (token, key) order on every replica, so equal data gives equal bytes. A running
 * hash rather than an XOR of per-partition hashes: XOR cancels equal terms and is
 * linear, so two different partition sets can collide far more easily. A leaf with no
 * partition hashes to 32 zero bytes, distinct from the hash of any non-empty leaf.
 * Inner nodes hash their two children (SHA-256 of left ++ right) up to root(); diff()
 * compares leaves directly, since the whole tree (1 MiB at depth 15) is sent anyway.
 */
import { createHash, type Hash } from 'node:crypto';
import { ProtocolError, assert } from '../errors.js';
import type { TokenRange } from '../cluster/ring.js';
import { MAX_TOKEN, MIN_TOKEN } from '../model/token.js';
import { crc32c } from '../storage/crc.js';

export type { TokenRange };

/** Deepest tree: 2^15 leaves, as Cassandra's repair caps them (1 MiB of leaf hashes). */
export const MERKLE_DEPTH_MAX = 15;
/** Bytes of one leaf hash (SHA-256). */
export const LEAF_HASH_BYTES = 32;

/** Serialized form (see MerkleTree.toBuffer): "SMKT", version, header and trailer sizes. */
const MAGIC = 0x534d4b54;
const FORMAT_VERSION = 1;
const HEADER_BYTES = 22;
const CRC_BYTES = 4;

/**
 * The depth that gives about one partition per leaf for `partitions` expected
 * partitions, capped at MERKLE_DEPTH_MAX: deeper trees would only add empty leaves;
 * shallower ones stream more partitions for each difference.
 */
export function depthForPartitions(partitions: number): number {
  assert(Number.isFinite(partitions) && partitions >= 0, `partition estimate ${partitions} is not a count`);
  if (partitions <= 1) return 0;
  return Math.min(MERKLE_DEPTH_MAX, Math.ceil(Math.log2(partitions)));
}

export class MerkleTree {
  readonly range: TokenRange;
  readonly depth: number;
  /** 2^depth. */
  readonly leafCount: number;
  private readonly width: bigint;
  /** Every leaf's hash, leaf i at i * LEAF_HASH_BYTES; zero-filled, so a leaf no partition
   *  reaches keeps the empty-leaf hash. */
  private readonly leaves: Buffer;
  /** The leaf being hashed (partitions of earlier leaves are sealed into `leaves`). */
  private openLeaf = -1;
  /** The open leaf's last token: later tokens up to it need no leaf computed. */
  private openLeafEnd: bigint = MIN_TOKEN;
  private openHash: Hash | null = null;
  private lastToken: bigint;
  private sealed = false;
  private rootHash: Buffer | null = null;

  constructor(range: TokenRange, depth: number) {
    assert(Number.isInteger(depth) && depth >= 0 && depth <= MERKLE_DEPTH_MAX, `Merkle tree depth ${depth} outside [0, ${MERKLE_DEPTH_MAX}]`);
    assert(
      range.start >= MIN_TOKEN && range.end <= MAX_TOKEN && range.start < range.end,
      `Merkle tree range (${range.start}, ${range.end}] is not a non-wrapping token range`,
    );
    this.range = { start: range.start, end: range.end };
    this.depth = depth;
    this.leafCount = 2 ** depth;
    this.width = range.end - range.start;
    this.leaves = Buffer.alloc(this.leafCount * LEAF_HASH_BYTES);
    this.lastToken = range.start;
  }

  /** Leaf `index`'s token range: (start + ⌊width·i/n⌋, start + ⌊width·(i+1)/n⌋]. */
  leafRange(index: number): TokenRange {
    return { start: this.boundary(index), end: this.boundary(index + 1) };
  }

  /** The leaf whose range holds `token` (which must lie in the tree's range). */
  leafOf(token: bigint): number {
    assert(token > this.range.start && token <= this.range.end, `token ${token} outside (${this.range.start}, ${this.range.end}]`);
    // Leaf i holds offsets o with ⌊w·i/n⌋ < o ≤ ⌊w·(i+1)/n⌋, i.e. i = ⌈o·n/w⌉ - 1 = ⌊(o·n - 1)/w⌋.
    const offset = token - this.range.start;
    return Number((offset * BigInt(this.leafCount) - 1n) / this.width);
  }

  /**
   * Adds one partition: its bytes (validation passes its canonical form, digest.ts;
   * any self-delimiting form, or a fixed-length digest, will do), hashed into its leaf
   * at once. Partitions must come in (token, key) order, as a scan returns them: the
   * leaf hash depends on that order, and a leaf is sealed once a later leaf's token
   * arrives. No adds after the tree has been read.
   */
  add(token: bigint, bytes: Uint8Array): void {
    assert(!this.sealed, 'Merkle tree already read: no more partitions can be added');
    assert(token >= this.lastToken, `partitions out of token order: ${token} after ${this.lastToken}`);
    this.lastToken = token;
    // Tokens ascend: one still within the open leaf's range belongs to it.
    if (this.openLeaf < 0 || token > this.openLeafEnd) {
      const leaf = this.leafOf(token);
      this.sealOpenLeaf();
      this.openLeaf = leaf;
      this.openLeafEnd = this.boundary(leaf + 1);
      this.openHash = createHash('sha256');
    }
    this.openHash!.update(bytes);
  }

  /** Leaf `index`'s hash (32 zero bytes when no partition fell in it). */
  leafHash(index: number): Buffer {
    assert(Number.isInteger(index) && index >= 0 && index < this.leafCount, `leaf ${index} outside [0, ${this.leafCount})`);
    this.seal();
    return this.leaves.subarray(index * LEAF_HASH_BYTES, (index + 1) * LEAF_HASH_BYTES);
  }

  /** The root hash: equal roots mean equal trees (and, but for collisions, equal data). */
  root(): Buffer {
    this.seal();
    if (this.rootHash === null) {
      let level: Buffer[] = [];
      for (let i = 0; i < this.leafCount; i++) level.push(this.leaves.subarray(i * LEAF_HASH_BYTES, (i + 1) * LEAF_HASH_BYTES));
      while (level.length > 1) {
        const parents: Buffer[] = [];
        for (let i = 0; i < level.length; i += 2) parents.push(createHash('sha256').update(level[i]).update(level[i + 1]).digest());
        level = parents;
      }
      this.rootHash = Buffer.from(level[0]);
    }
    return this.rootHash;
  }

  /**
   * The token ranges where this tree and `other` differ: the ranges of differing
   * leaves, adjacent ones merged, in token order. Both trees must cover the same
   * range at the same depth (the repair session asks every replica for the same).
   */
  diff(other: MerkleTree): TokenRange[] {
    assert(
      this.range.start === other.range.start && this.range.end === other.range.end && this.depth === other.depth,
      `cannot compare Merkle trees of (${this.range.start}, ${this.range.end}] depth ${this.depth} and (${other.range.start}, ${other.range.end}] depth ${other.depth}`,
    );
    this.seal();
    other.seal();
    const differing: TokenRange[] = [];
    if (this.leaves.equals(other.leaves)) return differing;
    for (let i = 0; i < this.leafCount; i++) {
      const from = i * LEAF_HASH_BYTES;
      if (this.leaves.compare(other.leaves, from, from + LEAF_HASH_BYTES, from, from + LEAF_HASH_BYTES) === 0) continue;
      const range = this.leafRange(i);
      const last = differing[differing.length - 1];
      if (last !== undefined && last.end === range.start) differing[differing.length - 1] = { start: last.start, end: range.end };
      else differing.push(range);
    }
    return differing;
  }

  /**
   * The tree as sent between replicas. Layout (integers big-endian):
   *
   *   offset  size            field
   *   0       4               magic "SMKT" (0x534d4b54)
   *   4       1               format version (1)
   *   5       1               depth d (0..15)
   *   6       8               range start, signed 64-bit token (exclusive)
   *   14      8               range end, signed 64-bit token (inclusive)
   *   22      32 · 2^d        leaf hashes, leaf 0 first
   *   22+32·2^d  4            CRC32C of every byte before it
   */
  toBuffer(): Buffer {
    this.seal();
    const out = Buffer.alloc(HEADER_BYTES + this.leaves.length + CRC_BYTES);
    out.writeUInt32BE(MAGIC, 0);
    out.writeUInt8(FORMAT_VERSION, 4);
    out.writeUInt8(this.depth, 5);
    out.writeBigInt64BE(this.range.start, 6);
    out.writeBigInt64BE(this.range.end, 14);
    this.leaves.copy(out, HEADER_BYTES);
    const body = HEADER_BYTES + this.leaves.length;
    out.writeUInt32BE(crc32c(out.subarray(0, body)), body);
    return out;
  }

  /** Reads a tree written by toBuffer; a damaged or foreign buffer is a ProtocolError. */
  static fromBuffer(bytes: Buffer): MerkleTree {
    if (bytes.length < HEADER_BYTES + CRC_BYTES || bytes.readUInt32BE(0) !== MAGIC) {
      throw new ProtocolError('Corrupt Merkle tree: bad magic or truncated header');
    }
    const version = bytes.readUInt8(4);
    if (version !== FORMAT_VERSION) throw new ProtocolError(`Unsupported Merkle tree format version ${version}`);
    const depth = bytes.readUInt8(5);
    if (depth > MERKLE_DEPTH_MAX) throw new ProtocolError(`Corrupt Merkle tree: depth ${depth} exceeds ${MERKLE_DEPTH_MAX}`);
    const leafBytes = 2 ** depth * LEAF_HASH_BYTES;
    const body = HEADER_BYTES + leafBytes;
    if (bytes.length !== body + CRC_BYTES) {
      throw new ProtocolError(`Corrupt Merkle tree: ${bytes.length} bytes, expected ${body + CRC_BYTES} for depth ${depth}`);
    }
    const expected = bytes.readUInt32BE(body);
    const actual = crc32c(bytes.subarray(0, body));
    if (expected !== actual) {
      throw new ProtocolError(`Corrupt Merkle tree: checksum ${actual.toString(16)} does not match stored ${expected.toString(16)}`);
    }
    const start = bytes.readBigInt64BE(6);
    const end = bytes.readBigInt64BE(14);
    if (!(start < end)) throw new ProtocolError(`Corrupt Merkle tree: range (${start}, ${end}] is not a non-wrapping token range`);
    const tree = new MerkleTree({ start, end }, depth);
    bytes.copy(tree.leaves, 0, HEADER_BYTES, body);
    tree.sealed = true;
    return tree;
  }

  private boundary(index: number): bigint {
    return this.range.start + (this.width * BigInt(index)) / BigInt(this.leafCount);
  }

  private sealOpenLeaf(): void {
    if (this.openHash === null) return;
    this.openHash.digest().copy(this.leaves, this.openLeaf * LEAF_HASH_BYTES);
    this.openHash = null;
  }

  /** Finishes the open leaf: reading the tree ends adding to it. */
  private seal(): void {
    if (this.sealed) return;
    this.sealOpenLeaf();
    this.sealed = true;
  }
}
