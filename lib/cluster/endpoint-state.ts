/**
 * What gossip knows about one endpoint, as in Cassandra: a heartbeat (generation, version)
 * and application states, each a string value with its own version.
 *
 * The generation is fixed for the life of a process (seconds since the epoch at start,
 * kept increasing across restarts by the caller), so a higher generation means "this node
 * restarted" and replaces everything known about it. Within one generation, versions come
 * from a single counter per node shared by the heartbeat and every application state, so
 * one number, the maximum version, summarises how up to date a copy is.
 */

/** Names of the application states sibyl gossips. Values are free-form strings. */
export const ApplicationState = {
  /** BOOT, NORMAL, LEAVING, LEFT, removed … (Cassandra's STATUS, comma-separated details). */
  STATUS: 'STATUS',
  TOKENS: 'TOKENS',
  DC: 'DC',
  RACK: 'RACK',
  HOST_ID: 'HOST_ID',
  /** Schema version (a UUID); nodes that disagree pull the schema. */
  SCHEMA: 'SCHEMA',
  /** Bytes on disk, for `sibyl status`. */
  LOAD: 'LOAD',
  /** host:port of the node's HTTP API. */
  HTTP: 'HTTP',
  RELEASE_VERSION: 'RELEASE_VERSION',
} as const;

/** The STATUS values sibyl gossips (Cassandra's; details may follow after a comma). */
export const Status = {
  BOOT: 'BOOT',
  NORMAL: 'NORMAL',
  LEAVING: 'LEAVING',
  LEFT: 'LEFT',
  /** Injected by removenode into a dead node's state as "removed,<host id>". */
  /**
   * removenode is re-replicating this dead endpoint's ranges (Cassandra's
   * REMOVING_TOKEN): it still owns them, and the nodes gaining them are pending replicas.
   */
  REMOVING: 'removing',
  REMOVED: 'removed',
} as const;

/**
 * Statuses of an endpoint gone from the cluster, or being removed from it while dead
 * (Cassandra's "dead states"): gossip keeps spreading its state but never marks it UP
 * again, until a restart (a new generation, with the endpoint's own STATUS) replaces it.
 */
const DEAD_STATUSES: ReadonlySet<string> = new Set([Status.LEFT, Status.REMOVING, Status.REMOVED]);

/** The first part of a STATUS value: "removed,<host id>" → "removed". */
export function statusName(value: string): string {
  return value.split(',', 1)[0];
}

/** A known state name, or any other: older nodes pass through names they do not know. */
export type ApplicationStateName = (typeof ApplicationState)[keyof typeof ApplicationState] | (string & {});

export interface HeartbeatState {
  readonly generation: number;
  readonly version: number;
}

export interface VersionedValue {
  readonly value: string;
  readonly version: number;
}

/** One application state on the wire. */
export interface ApplicationStateEntry {
  readonly name: ApplicationStateName;
  readonly value: string;
  readonly version: number;
}

/** An endpoint's state (or the part of it newer than some version) as gossip sends it. */
export interface EndpointStateMessage {
  readonly endpoint: string;
  readonly heartbeat: HeartbeatState;
  readonly states: readonly ApplicationStateEntry[];
  /**
   * 0 (or absent): the whole state. Otherwise a delta, holding only the versions above
   * `since`: it completes only a copy of the endpoint at the same generation that holds
   * at least `since` (gossip.ts, Gossiper.apply).
   */
  readonly since?: number;
}

/** A read-only copy of what is known about an endpoint, for callers outside gossip. */
export interface EndpointStateView {
  readonly heartbeat: HeartbeatState;
  readonly states: ReadonlyMap<ApplicationStateName, VersionedValue>;
}

export class EndpointState {
  readonly states = new Map<ApplicationStateName, VersionedValue>();

  constructor(public heartbeat: HeartbeatState) {}

  static fromMessage(message: EndpointStateMessage): EndpointState {
    const state = new EndpointState(message.heartbeat);
    for (const entry of message.states) state.states.set(entry.name, { value: entry.value, version: entry.version });
    return state;
  }

  get generation(): number {
    return this.heartbeat.generation;
  }

  /** Whether its STATUS says it left the cluster (LEFT, removed): see DEAD_STATUSES. */
  isDead(): boolean {
    const status = this.states.get(ApplicationState.STATUS);
    return status !== undefined && DEAD_STATUSES.has(statusName(status.value));
  }

  /** The highest version of the heartbeat and every application state: what a digest carries. */
  maxVersion(): number {
    let max = this.heartbeat.version;
    for (const { version } of this.states.values()) if (version > max) max = version;
    return max;
  }

  /** The heartbeat and the application states newer than `version`; null if nothing is. */
  newerThan(endpoint: string, version: number): EndpointStateMessage | null {
    const states: ApplicationStateEntry[] = [];
    for (const [name, value] of this.states) {
      if (value.version > version) states.push({ name, value: value.value, version: value.version });
    }
    // The heartbeat goes along whenever anything does: the receiver needs the generation.
    if (states.length === 0 && this.heartbeat.version <= version) return null;
    return { endpoint, heartbeat: this.heartbeat, states, since: version };
  }

  view(): EndpointStateView {
    return { heartbeat: this.heartbeat, states: new Map(this.states) };
  }
}
