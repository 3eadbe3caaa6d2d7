/**
 * The replica side of repair: building Merkle trees on request (VALIDATION) and for
 * the node's own repairs, a few at a time. A validation reads a whole token range of a
 * table, so several repairs (or one per node of the cluster, all asking this replica)
 * must not scan at once: at most VALIDATIONS_RUNNING_MAX run, the next
 * VALIDATIONS_QUEUED_MAX wait in order, and past that a request is refused with
 * Overloaded — the asking repair fails that range with the reason and goes on.
 */
import { InvalidRequest, Overloaded, ProtocolError } from '../errors.js';
import type { Transport } from '../net/transport.js';
import type { Partition } from '../model/partition.js';
import type { KeyRange, ReadFilter, ScanOptions, StorageEngine } from '../storage/engine.js';
import { MERKLE_DEPTH_MAX, type MerkleTree, type TokenRange } from './merkle.js';
import { decodeValidationRequest, encodeValidationResponse, type ValidationRequest } from './repair-codec.js';
import { validate, type ScannableStore, type ValidationThrottle } from './validation.js';

/** (start, end] by token, as validation reads a range. */
function leafKeys(range: TokenRange): KeyRange {
  return { start: { token: range.start, key: null }, startInclusive: false, end: { token: range.end, key: null }, endInclusive: true };
}

/** Validations scanning at once on one node: one keeps a core busy, two overlap I/O. */
export const VALIDATIONS_RUNNING_MAX = 2;
/** Validations waiting for a slot before new ones are refused. */
export const VALIDATIONS_QUEUED_MAX = 32;

export class Validator {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  /** `throttle` paces every validation of this node together (compaction_throughput). */
  constructor(
    private readonly storage: StorageEngine,
    private readonly throttle?: ValidationThrottle,
  ) {}

  /** Answers VALIDATION requests on `transport`. */
  register(transport: Transport): void {
    transport.onMessage('VALIDATION', async (_from, payload) => encodeValidationResponse(await this.build(decodeValidationRequest(payload))));
  }

  /**
   * The tree of the request's table and range, once a validation slot is free.
   * InvalidRequest for a table this node does not hold; Overloaded when the queue is full.
   */
  build(request: ValidationRequest): Promise<MerkleTree> {
    return this.run(request, (store) => store);
  }

  /**
   * The request's tree with only the leaves in `ranges` (leaf ranges of that tree, in
   * token order) hashed, the others left empty: after a repair pulled data into those
   * leaves, it tells which replicas still differ from this node, at the cost of
   * scanning the pulled ranges only.
   */
  rehash(request: ValidationRequest, ranges: readonly TokenRange[]): Promise<MerkleTree> {
    return this.run(request, (store) => ({
      // validate() asks for the whole piece: it gets the partitions of `ranges` only, still in token order.
      async *scan(_whole: KeyRange, filter: ReadFilter, options?: ScanOptions): AsyncIterable<Partition> {
        for (const range of ranges) yield* store.scan(leafKeys(range), filter, options);
      },
    }));
  }

  private async run(request: ValidationRequest, source: (store: ScannableStore) => ScannableStore): Promise<MerkleTree> {
    const { tableId, range, depth, nowSeconds } = request;
    if (!(range.start < range.end) || !Number.isInteger(depth) || depth < 0 || depth > MERKLE_DEPTH_MAX) {
      throw new ProtocolError(`Malformed validation request: range (${range.start}, ${range.end}], depth ${depth}`);
    }
    const store = this.storage.table(tableId);
    if (store === undefined) throw new InvalidRequest(`Cannot validate unknown table ${tableId}`);
    await this.acquire();
    try {
      return await validate(source(store), range, depth, nowSeconds, this.throttle);
    } finally {
      this.release();
    }
  }

  private acquire(): Promise<void> {
    if (this.running < VALIDATIONS_RUNNING_MAX) {
      this.running++;
      return Promise.resolve();
    }
    if (this.waiting.length >= VALIDATIONS_QUEUED_MAX) {
      return Promise.reject(
        new Overloaded(`${VALIDATIONS_RUNNING_MAX} validations running and ${VALIDATIONS_QUEUED_MAX} waiting: try the repair again later`),
      );
    }
    // The slot passes straight from release() to the waiter: `running` stays counted.
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next !== undefined) next();
    else this.running--;
  }
}
