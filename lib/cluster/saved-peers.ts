/**
 * Peers kept across restarts, as Cassandra's system.peers: every peer that owns tokens
 * (STATUS NORMAL, LEAVING or removing) is saved with its host id, address, dc, rack,
 * tokens and status. Its record is deleted only on evidence that it is gone for good:
 * gossip says it LEFT or was removed, its address now belongs to another host id, or
 * other hosts own all its tokens (both replacements). A peer merely missing from the
 * ring for a while — a state not yet complete, a doubt — keeps its record: losing it
 * would make the next start coordinate over a partial ring, the very thing saved peers
 * are for (a chaos run saw exactly that).
 *
 * Why: after a restart a coordinator that knew only the peers gossip has reported so far
 * would place replicas on a partial ring and acknowledge writes on nodes that are not
 * replicas. With the saved ring loaded (gossip.ts, addSavedEndpoint) it computes the
 * real replicas at once, and answers Unavailable while they are not yet seen UP.
 *
 * PeerRecorder derives the records from membership whenever gossip changed something of
 * a peer, compares them with what it last wrote, and writes only the difference, in one
 * batch; changes arriving during a write are coalesced into the next one, so there is at
 * most one write under way and one waiting, whatever the rate of gossip.
 */
import type { NetLogger } from '../net/transport.js';
import { SILENT_NET_LOGGER } from '../net/transport.js';
import type { PeerRecord } from '../system/system-store.js';
import { ApplicationState, type ApplicationStateName, Status, statusName } from './endpoint-state.js';
import { formatTokens, type Membership } from './membership.js';

/** Where peer records live (SystemStore). */
export interface PeerStore {
  updatePeers(save: readonly PeerRecord[], remove: readonly string[]): Promise<void>;
}

/** Statuses of an endpoint that owns tokens: the ring holds exactly these (membership.ts). */
const SAVED_STATUSES: ReadonlySet<string> = new Set([Status.NORMAL, Status.LEAVING, Status.REMOVING]);

/** Whether a saved record describes a ring owner, so a restart loads it (a dead or joining state never is). */
export function isLoadable(peer: PeerRecord): boolean {
  return SAVED_STATUSES.has(peer.status) && peer.tokens.length > 0;
}

/** The application states a saved peer is known by until gossip speaks of it. */
export function savedPeerStates(peer: PeerRecord): [ApplicationStateName, string][] {
  const states: [ApplicationStateName, string][] = [
    [ApplicationState.HOST_ID, peer.hostId],
    [ApplicationState.DC, peer.dc],
    [ApplicationState.RACK, peer.rack],
    [ApplicationState.TOKENS, formatTokens(peer.tokens)],
    // removenode's statuses carry the host id; the others no details.
    [ApplicationState.STATUS, peer.status === Status.REMOVING ? `${peer.status},${peer.hostId}` : peer.status],
  ];
  if (peer.httpAddress !== '') states.push([ApplicationState.HTTP, peer.httpAddress]);
  if (peer.schemaVersion !== '') states.push([ApplicationState.SCHEMA, peer.schemaVersion]);
  return states;
}

/** Statuses of a peer gone from the cluster: its record goes. */
const GONE_STATUSES: ReadonlySet<string> = new Set([Status.LEFT, Status.REMOVED]);

/** The part of Membership records are derived from. */
export type RecordedMembership = Pick<Membership, 'local' | 'ring' | 'statusOf' | 'describe' | 'hostIdAt'>;

export interface PeerRecorderOptions {
  readonly membership: RecordedMembership;
  readonly store: PeerStore;
  /** What the store held at start (SystemStore.peers). */
  readonly saved: readonly PeerRecord[];
  readonly logger?: NetLogger;
  /** What gossip holds of the peer with this host id, for the line logged when its record is deleted. */
  readonly explain?: (hostId: string) => string;
}

export class PeerRecorder {
  /** What the store holds, by host id, as far as this recorder knows. */
  private readonly saved = new Map<string, PeerRecord>();
  private readonly logger: NetLogger;
  private writing: Promise<void> | null = null;
  private dirty = false;
  private stopped = false;

  constructor(private readonly options: PeerRecorderOptions) {
    for (const peer of options.saved) this.saved.set(peer.hostId, peer);
    this.logger = options.logger ?? SILENT_NET_LOGGER;
  }

  /** Gossip changed something of a peer: bring the records in step (asynchronously, coalesced). */
  changed(): void {
    if (this.stopped) return;
    this.dirty = true;
    this.writing ??= this.writeWhileDirty();
  }

  /** No more writes; resolves once the one under way (if any) ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.dirty = false;
    await this.writing;
  }

  /** Resolves once every change reported so far is written (or failed and logged). */
  async flushed(): Promise<void> {
    while (this.writing !== null) await this.writing;
  }

  private async writeWhileDirty(): Promise<void> {
    try {
      // Let the rest of this turn's gossip events arrive first: one write for all of them.
      await Promise.resolve();
      while (this.dirty && !this.stopped) {
        this.dirty = false;
        const wanted = this.records();
        const save = [...wanted.values()].filter((peer) => !samePeer(this.saved.get(peer.hostId), peer));
        const gone = new Map<string, string>();
        for (const [hostId, record] of this.saved) {
          const reason = wanted.has(hostId) ? null : this.goneReason(record);
          if (reason !== null) gone.set(hostId, reason);
        }
        const remove = [...gone.keys()];
        if (save.length === 0 && remove.length === 0) continue;
        try {
          await this.options.store.updatePeers(save, remove);
          // Deleting a record changes what the next start knows: worth a line each time.
          for (const [hostId, reason] of gone) {
            const known = this.options.explain?.(hostId);
            this.logger.info(
              { hostId },
              `Peer record deleted: ${hostId} (${this.saved.get(hostId)?.address ?? 'unknown address'}) ${reason}` +
                (known === undefined ? '' : `; gossip holds ${known}`),
            );
          }
          for (const peer of save) this.saved.set(peer.hostId, peer);
          for (const hostId of remove) this.saved.delete(hostId);
        } catch (error) {
          // The difference stays, so the next change writes it again.
          this.logger.warn({ err: error }, 'failed to save the peers gossip reported; a restart may start from an older ring');
        }
      }
    } finally {
      // In the same turn as the last look at `dirty`: a change after it starts a new write.
      this.writing = null;
    }
  }

  /** Why the saved peer, no longer a ring owner, is gone for good (see the file comment); null if it may be back. */
  private goneReason(record: PeerRecord): string | null {
    const { membership } = this.options;
    if (record.hostId === membership.local.id) return 'is this node';
    // Never loaded at start (gossip.ts would not know it from this record): of no use.
    if (!isLoadable(record)) return `was saved as no ring owner (${record.status})`;
    const status = membership.statusOf(record.hostId);
    if (status !== null && GONE_STATUSES.has(statusName(status))) return `is gone (${status})`;
    const holder = membership.hostIdAt(record.address);
    if (holder !== null && holder !== record.hostId) return `was replaced: its address belongs to host ${holder}`;
    const others = new Set<bigint>();
    for (const endpoint of membership.ring().endpoints) {
      if (endpoint.id !== record.hostId) for (const token of endpoint.tokens) others.add(token);
    }
    if (record.tokens.length > 0 && record.tokens.every((token) => others.has(token))) return 'was replaced: other hosts own its tokens';
    return null;
  }

  /** The records the store should hold: every other endpoint of the ring, by host id. */
  private records(): Map<string, PeerRecord> {
    const { membership } = this.options;
    const localId = membership.local.id;
    const described = new Map(membership.describe().map((description) => [description.id, description]));
    const records = new Map<string, PeerRecord>();
    for (const endpoint of membership.ring().endpoints) {
      const status = membership.statusOf(endpoint.id);
      if (endpoint.id === localId || status === null) continue;
      const description = described.get(endpoint.id);
      records.set(endpoint.id, {
        hostId: endpoint.id,
        address: endpoint.address,
        httpAddress: description?.httpAddress ?? '',
        dc: endpoint.dc,
        rack: endpoint.rack,
        tokens: [...endpoint.tokens],
        status,
        schemaVersion: description?.schemaVersion ?? '',
      });
    }
    return records;
  }
}

function samePeer(a: PeerRecord | undefined, b: PeerRecord): boolean {
  if (a === undefined) return false;
  return (
    a.address === b.address &&
    a.httpAddress === b.httpAddress &&
    a.dc === b.dc &&
    a.rack === b.rack &&
    a.status === b.status &&
    a.schemaVersion === b.schemaVersion &&
    a.tokens.length === b.tokens.length &&
    a.tokens.every((token, i) => token === b.tokens[i])
  );
}
