/**
 * Repair of one table in one ring range, driven by the node that runs the repair:
 *
 *   1. every replica builds the Merkle tree of each non-wrapping piece of the range
 *      (this node's own through its Validator, the others' by VALIDATION), all at once;
 *   2. the trees are compared leaf by leaf: the differing leaves, and for each one
 *      which peer to pull it from — one per distinct differing hash, since peers with
 *      equal hashes hold equal data (repair-plan.ts planPulls);
 *   3. this node pulls those leaves, so it holds the reconciled data of every
 *      differing leaf (streaming applies through the write path: last write wins);
 *   4. it hashes the differing leaves again (scanning only them) and pushes to each
 *      peer the leaves where that peer's hash differs from the reconciled one. A peer
 *      that agreed with this node can still lack what another peer had, and gets it;
 *      one that already holds the reconciled data gets nothing.
 *
 * So when this node alone missed data, each missing partition travels once (pulled
 * from one peer); when one peer missed it, it is pulled from nobody and pushed to that
 * peer. A range where every tree is equal streams nothing.
 *
 * A peer that is down, is convicted or times out while building its tree or
 * streaming fails the range with a one-line reason; the others are still repaired.
 */
import type { Endpoint } from '../cluster/ring.js';
import type { Transport } from '../net/transport.js';
import type { TableMetadata } from '../schema/metadata.js';
import type { MerkleTree } from './merkle.js';
import { decodeValidationResponse, encodeValidationRequest } from './repair-codec.js';
import type { LivenessWatch } from './repair-liveness.js';
import { formatRange, leafRanges, leavesDiffering, planPulls, type PlannedRange, type ReplicaTree } from './repair-plan.js';
import type { Validator } from './repair-validator.js';
import type { StreamProgress, StreamService } from './streaming.js';

export interface RangeSessionDeps {
  readonly validator: Validator;
  readonly transport: Transport;
  readonly streams: StreamService;
  readonly liveness: LivenessWatch;
  readonly validationTimeoutMs: number;
}

export interface RangeSessionInput {
  readonly table: TableMetadata;
  readonly planned: PlannedRange;
  /** Tree depth of each of planned.pieces. */
  readonly depths: readonly number[];
  /** The time every replica validates at. */
  readonly nowSeconds: number;
  /** Told what each streamed chunk moved, as it arrives. */
  readonly onStreamed: StreamProgress;
}

export interface RangeOutcome {
  /** Some replica's tree differed from this node's. */
  readonly differing: boolean;
  /** Why the range failed ("ks.t (a, b]: /host:port is down"), empty when it succeeded. */
  readonly errors: readonly string[];
}

const message = (error: unknown): string => (error instanceof Error ? error.message : String(error));

export async function repairRange(deps: RangeSessionDeps, input: RangeSessionInput): Promise<RangeOutcome> {
  const { table, planned } = input;
  const errors: string[] = [];
  const fail = (what: string, error: unknown) =>
    errors.push(`${table.keyspace}.${table.name} ${formatRange(planned.range)}: ${what}${message(error)}`);
  /** Peers that answered everything so far: the ones still compared and streamed with. */
  const healthy = new Set<Endpoint>(planned.peers);
  let differing = false;

  // Pieces one after another: at most RF trees (≤ 1 MiB each), plus one rehash, in memory.
  for (let i = 0; i < planned.pieces.length; i++) {
    const request = { tableId: table.id, range: planned.pieces[i], depth: input.depths[i], nowSeconds: input.nowSeconds };
    const payload = encodeValidationRequest(request);
    const askedPeers = planned.peers.filter((peer) => healthy.has(peer));
    const [local, ...remote] = await Promise.allSettled([
      deps.validator.build(request),
      ...askedPeers.map((peer) =>
        deps.liveness.guard(peer, async () =>
          decodeValidationResponse(await deps.transport.request(peer.address, 'VALIDATION', payload, deps.validationTimeoutMs)),
        ),
      ),
    ]);
    if (local.status === 'rejected') {
      // Nothing to compare with: the range cannot be repaired from here.
      fail('local validation failed: ', local.reason);
      return { differing, errors };
    }
    const trees: ReplicaTree<Endpoint>[] = [];
    remote.forEach((answer, j) => {
      const peer = askedPeers[j];
      const problem = answer.status === 'rejected' ? message(answer.reason) : shapeMismatch(local.value, answer.value);
      if (problem === null) trees.push([peer, (answer as PromiseFulfilledResult<MerkleTree>).value]);
      else {
        fail(answer.status === 'rejected' ? '' : `/${peer.address} `, problem);
        healthy.delete(peer);
      }
    });
    const plan = planPulls(local.value, trees);
    if (plan.differing.length === 0) continue;
    differing = true;

    await Promise.all(
      [...plan.pulls].map(async ([peer, leaves]) => {
        try {
          await deps.streams.pull(peer, table.id, leafRanges(local.value, leaves), input.onStreamed);
        } catch (error) {
          fail(`pull from /${peer.address}: `, error);
          healthy.delete(peer);
        }
      }),
    );
    let reconciled: MerkleTree;
    try {
      reconciled = await deps.validator.rehash(request, leafRanges(local.value, plan.differing));
    } catch (error) {
      fail('local validation failed: ', error);
      return { differing, errors };
    }
    await Promise.all(
      trees.map(async ([peer, tree]) => {
        const stale = leavesDiffering(reconciled, tree, plan.differing);
        if (!healthy.has(peer) || stale.length === 0) return;
        try {
          await deps.streams.push(peer, table.id, leafRanges(local.value, stale), input.onStreamed);
        } catch (error) {
          fail(`push to /${peer.address}: `, error);
          healthy.delete(peer);
        }
      }),
    );
  }
  return { differing, errors };
}

/** Why `remote` cannot be compared with `local`, or null when it can. */
function shapeMismatch(local: MerkleTree, remote: MerkleTree): string | null {
  if (local.range.start === remote.range.start && local.range.end === remote.range.end && local.depth === remote.depth) return null;
  return `answered a tree of ${formatRange(remote.range)} depth ${remote.depth}, asked for ${formatRange(local.range)} depth ${local.depth}`;
}
