/**
 * The node's own state, kept in LevelDB (`level`) at `<data_dir>/system`: who this node
 * is, which tokens it owns, how far it got in joining the ring, and the schema. Not
 * user data: that lives in lib/storage.
 *
 * Layout: one sublevel per concern (LevelDB keys are prefixed '!<sublevel>!'), values
 * JSON unless noted.
 *
 *   local           'format'       → SYSTEM_STORE_FORMAT_VERSION, written when the store is created
 *                   'host_id'      → random UUID chosen on first start, never changed
 *                   'cluster_name' → cluster_name of the first start; later starts must match
 *                   'tokens'       → string[] (signed 64-bit tokens in decimal)
 *                   'bootstrap'    → BootstrapState
 *                   'generation'   → the gossip generation of the last start (seconds)
 *   schema          see schema-store.ts
 *   peers           '<host id>' → StoredPeer: what this node last knew of each peer that
 *                   owns tokens, so a restart knows the ring before gossip has caught up
 *                   (lib/cluster/saved-peers.ts keeps them in step with gossip)
 *   hints           '<target host id>:<created ms, 15 digits>:<UUID>' → mutation bytes
 *                   (binary values), in creation order per target
 *   repair_history  '<keyspace>:<table>:<started ms, 15 digits>:<id>' → RepairRecord
 *
 * Writes to `local`, the schema and peers are synced: they are rare and must survive a
 * power loss. Hints are not: like Cassandra's, they are best effort.
 */
import { randomUUID } from 'node:crypto';
import type { AbstractSublevel } from 'abstract-level';
import { Level } from 'level';
import { assert, ConfigurationError } from '../errors.js';
import type { SchemaStore } from '../schema/manager.js';
import { isUuidString } from '../schema/uuid.js';
import { LevelSchemaStore } from './schema-store.js';

export const SYSTEM_STORE_FORMAT_VERSION = 1;

/** The root database: string keys, JSON values by default. */
export type SystemDatabase = Level<string, unknown>;
/** A sublevel of the system database with string keys and values of type V. */
export type SystemSublevel<V> = AbstractSublevel<SystemDatabase, string | Buffer | Uint8Array, string, V>;

/** How far this node got in joining the ring (Cassandra's names). */
export type BootstrapState = 'NEEDS_BOOTSTRAP' | 'IN_PROGRESS' | 'COMPLETED' | 'DECOMMISSIONED';
const BOOTSTRAP_STATES: readonly BootstrapState[] = ['NEEDS_BOOTSTRAP', 'IN_PROGRESS', 'COMPLETED', 'DECOMMISSIONED'];

export interface PeerRecord {
  hostId: string;
  /** Internode address, HOST:PORT. */
  address: string;
  /** HTTP API address, HOST:PORT. */
  httpAddress: string;
  dc: string;
  rack: string;
  tokens: bigint[];
  /** Its gossiped STATUS when saved, without details: NORMAL, LEAVING or removing. */
  status: string;
  schemaVersion: string;
}

/** PeerRecord as stored: tokens in decimal, since JSON has no 64-bit integers. */
type StoredPeer = Omit<PeerRecord, 'tokens'> & { tokens: string[] };

export interface StoredHint {
  /** The record's key, for deleteHint once the hint is delivered. */
  key: string;
  target: string;
  createdAtMs: number;
  mutation: Buffer;
}

export interface RepairRecord {
  id: string;
  keyspace: string;
  table: string;
  /** Token ranges (start exclusive, end inclusive) in decimal. */
  ranges: { start: string; end: string }[];
  startedAtMs: number;
  finishedAtMs: number;
  succeeded: boolean;
}

export interface SystemStoreOptions {
  /** cluster_name from the configuration; must match the one saved on first start. */
  clusterName: string;
}

const SYNC = { sync: true } as const;
/** Milliseconds since the epoch fit in 15 digits until the year 33658; padding makes
 *  keys sort in time order. */
const TIME_KEY_DIGITS = 15;
/** ';' sorts right after ':', so `<prefix>:` ≤ key < `<prefix>;` is one prefix's range. */
/** Repairs kept in the history of one table (the oldest go first). */
export const REPAIR_HISTORY_PER_TABLE_MAX = 100;

function prefixRange(prefix: string): { gte: string; lt: string } {
  return { gte: `${prefix}:`, lt: `${prefix};` };
}

function timeKey(ms: number): string {
  assert(Number.isSafeInteger(ms) && ms >= 0, `time key from a non-negative integer (got ${ms})`);
  return String(ms).padStart(TIME_KEY_DIGITS, '0');
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function tokenFromText(text: unknown, where: string): bigint {
  if (typeof text !== 'string' || !/^-?\d{1,19}$/.test(text)) throw unreadable(where, text);
  const token = BigInt(text);
  if (token < INT64_MIN || token > INT64_MAX) throw unreadable(where, text);
  return token;
}

function tokensToText(tokens: readonly bigint[]): string[] {
  for (const token of tokens) assert(token >= INT64_MIN && token <= INT64_MAX, `token ${token} is a signed 64-bit integer`);
  return tokens.map(String);
}

/** A synced put through the root database: sublevels' own put does not take `sync`. */
function putSynced<V>(db: SystemDatabase, sublevel: SystemSublevel<V>, key: string, value: V): Promise<void> {
  return db.batch<string, V>([{ type: 'put', sublevel, key, value }], SYNC);
}

function unreadable(where: string, value: unknown): ConfigurationError {
  return new ConfigurationError(`System store is unreadable: ${where} holds ${JSON.stringify(value) ?? 'nothing'}`);
}

/** What classic-level throws when another process holds the database's LOCK file. */
function isLocked(error: unknown): boolean {
  return (error as { cause?: { code?: string } }).cause?.code === 'LEVEL_LOCKED';
}

export class SystemStore {
  private tokens: readonly bigint[];
  private bootstrap: BootstrapState;

  private constructor(
    private readonly db: SystemDatabase,
    private readonly local: SystemSublevel<unknown>,
    private readonly schemaRecords: SystemSublevel<unknown>,
    private readonly peerRecords: SystemSublevel<StoredPeer>,
    private readonly hintRecords: SystemSublevel<Buffer>,
    private readonly repairRecords: SystemSublevel<RepairRecord>,
    private readonly id: string,
    state: { tokens: readonly bigint[]; bootstrap: BootstrapState },
  ) {
    this.tokens = state.tokens;
    this.bootstrap = state.bootstrap;
  }

  /**
   * Opens (creating on first start) the LevelDB database in `directory`, normally
   * `<data_dir>/system`. Refuses a directory another process holds, a newer format,
   * and a cluster name other than the one saved on first start.
   */
  static async open(directory: string, options: SystemStoreOptions): Promise<SystemStore> {
    const db: SystemDatabase = new Level<string, unknown>(directory, { valueEncoding: 'json' });
    try {
      await db.open();
    } catch (error) {
      if (isLocked(error)) {
        throw new ConfigurationError(`System store ${directory} is in use by another process (is another node running on this data directory?)`);
      }
      throw error;
    }
    try {
      return await SystemStore.load(db, options);
    } catch (error) {
      await db.close();
      throw error;
    }
  }

  private static async load(db: SystemDatabase, { clusterName }: SystemStoreOptions): Promise<SystemStore> {
    const local = db.sublevel<string, unknown>('local', { valueEncoding: 'json' });
    let format = await local.get('format');
    if (format === undefined) {
      // First start: identity and cluster are written together, so a crash here leaves
      // either nothing (and the next start begins again) or a complete identity.
      format = SYSTEM_STORE_FORMAT_VERSION;
      await db.batch(
        [
          { type: 'put', sublevel: local, key: 'host_id', value: randomUUID() },
          { type: 'put', sublevel: local, key: 'cluster_name', value: clusterName },
          { type: 'put', sublevel: local, key: 'format', value: format },
        ],
        SYNC,
      );
    }
    if (format !== SYSTEM_STORE_FORMAT_VERSION) {
      throw new ConfigurationError(
        `System store ${db.location} has format ${JSON.stringify(format)}, which this version of sibyl cannot read (it reads format ${SYSTEM_STORE_FORMAT_VERSION})`,
      );
    }
    const [hostId, savedClusterName, storedTokens, storedBootstrap] = await local.getMany(['host_id', 'cluster_name', 'tokens', 'bootstrap']);
    if (typeof hostId !== 'string' || !isUuidString(hostId)) throw unreadable('local host_id', hostId);
    if (typeof savedClusterName !== 'string') throw unreadable('local cluster_name', savedClusterName);
    if (savedClusterName !== clusterName) {
      throw new ConfigurationError(`Saved cluster name ${savedClusterName} != configured name ${clusterName}`);
    }
    let tokens: bigint[] = [];
    if (storedTokens !== undefined) {
      if (!Array.isArray(storedTokens)) throw unreadable('local tokens', storedTokens);
      tokens = storedTokens.map((text, i) => tokenFromText(text, `local tokens[${i}]`));
    }
    if (storedBootstrap !== undefined && !BOOTSTRAP_STATES.includes(storedBootstrap as BootstrapState)) {
      throw unreadable('local bootstrap', storedBootstrap);
    }
    return new SystemStore(
      db,
      local,
      db.sublevel<string, unknown>('schema', { valueEncoding: 'json' }),
      db.sublevel<string, StoredPeer>('peers', { valueEncoding: 'json' }),
      db.sublevel<string, Buffer>('hints', { valueEncoding: 'buffer' }),
      db.sublevel<string, RepairRecord>('repair_history', { valueEncoding: 'json' }),
      hostId,
      { tokens, bootstrap: (storedBootstrap as BootstrapState | undefined) ?? 'NEEDS_BOOTSTRAP' },
    );
  }

  /** This node's identity in the cluster, stable across restarts. */
  hostId(): string {
    return this.id;
  }

  /** The tokens this node owns; empty until it has joined a ring. */
  getTokens(): readonly bigint[] {
    return this.tokens;
  }

  async setTokens(tokens: readonly bigint[]): Promise<void> {
    await putSynced(this.db, this.local, 'tokens', tokensToText(tokens));
    this.tokens = [...tokens];
  }

  /**
   * The gossip generation for this start: the clock's seconds, but always above the last
   * start's (kept here), as Cassandra's system.local does. Peers take a state only from a
   * generation above the one they know: a node restarted within the same second, or with
   * its clock set back, would otherwise go unheard until it restarted again.
   */
  async nextGeneration(nowSeconds: number): Promise<number> {
    const stored = await this.local.get('generation');
    if (stored !== undefined && !Number.isSafeInteger(stored)) throw unreadable('local generation', stored);
    const generation = Math.max(nowSeconds, ((stored as number | undefined) ?? 0) + 1);
    await putSynced(this.db, this.local, 'generation', generation);
    return generation;
  }

  bootstrapState(): BootstrapState {
    return this.bootstrap;
  }

  async setBootstrapState(state: BootstrapState): Promise<void> {
    await putSynced(this.db, this.local, 'bootstrap', state);
    this.bootstrap = state;
  }

  /** The durable schema store for SchemaManager.open. */
  schemaStore(): SchemaStore {
    return new LevelSchemaStore(this.db, this.schemaRecords);
  }

  // -------------------------------------------------------------------------
  // Peers, hints, repair history.

  /** Saves `save` (replacing the records of their host ids) and deletes `remove`'s, in one synced batch. */
  async updatePeers(save: readonly PeerRecord[], remove: readonly string[]): Promise<void> {
    if (save.length === 0 && remove.length === 0) return;
    await this.db.batch<string, StoredPeer>(
      [
        ...save.map((peer) => ({ type: 'put' as const, sublevel: this.peerRecords, key: peer.hostId, value: { ...peer, tokens: tokensToText(peer.tokens) } })),
        ...remove.map((hostId) => ({ type: 'del' as const, sublevel: this.peerRecords, key: hostId })),
      ],
      SYNC,
    );
  }

  /** Every saved peer, by host id. */
  async peers(): Promise<PeerRecord[]> {
    const peers: PeerRecord[] = [];
    for await (const [hostId, stored] of this.peerRecords.iterator()) {
      const where = `peers ${hostId}`;
      for (const field of ['hostId', 'address', 'httpAddress', 'dc', 'rack', 'status', 'schemaVersion'] as const) {
        if (typeof stored[field] !== 'string') throw unreadable(`${where} ${field}`, stored[field]);
      }
      if (stored.hostId !== hostId) throw unreadable(`${where} hostId`, stored.hostId);
      if (!Array.isArray(stored.tokens)) throw unreadable(`${where} tokens`, stored.tokens);
      peers.push({ ...stored, tokens: stored.tokens.map((text, i) => tokenFromText(text, `${where} tokens[${i}]`)) });
    }
    return peers;
  }

  /** Stores a hint for `target` (a host id); returns its key. */
  async storeHint(target: string, createdAtMs: number, mutation: Buffer): Promise<string> {
    assert(isUuidString(target), `hint target is a host id (got ${target})`);
    const key = `${target}:${timeKey(createdAtMs)}:${randomUUID()}`;
    await this.hintRecords.put(key, mutation);
    return key;
  }

  /** The hints for `target`, oldest first, read lazily. */
  async *hintsFor(target: string): AsyncGenerator<StoredHint> {
    for await (const [key, mutation] of this.hintRecords.iterator(prefixRange(target))) {
      const createdAtMs = Number(key.slice(target.length + 1, target.length + 1 + TIME_KEY_DIGITS));
      yield { key, target, createdAtMs, mutation };
    }
  }

  /** The host ids that have stored hints, each once: one seek per target, not a read of every hint. */
  async hintTargets(): Promise<string[]> {
    const targets: string[] = [];
    let from = '';
    for (;;) {
      const [key] = await this.hintRecords.keys({ gt: from, limit: 1 }).all();
      if (key === undefined) return targets;
      const target = key.slice(0, key.indexOf(':'));
      targets.push(target);
      // ';' sorts right after ':': past every key of this target.
      from = `${target};`;
    }
  }

  async deleteHint(key: string): Promise<void> {
    await this.hintRecords.del(key);
  }

  /**
   * Records a repair of one table, keeping the newest REPAIR_HISTORY_PER_TABLE_MAX of
   * that table (by start time): the history must not grow with every repair for ever.
   */
  async recordRepair(record: RepairRecord): Promise<void> {
    const key = `${record.keyspace}:${record.table}:${timeKey(record.startedAtMs)}:${record.id}`;
    await putSynced(this.db, this.repairRecords, key, record);
    // Keys sort by start time: the oldest come first.
    const keys = await this.repairRecords.keys(prefixRange(`${record.keyspace}:${record.table}`)).all();
    const excess = keys.length - REPAIR_HISTORY_PER_TABLE_MAX;
    if (excess > 0) await this.repairRecords.batch(keys.slice(0, excess).map((old) => ({ type: 'del' as const, key: old })));
  }

  /** Repairs of one table, oldest first. */
  async repairHistory(keyspace: string, table: string): Promise<RepairRecord[]> {
    return this.repairRecords.values(prefixRange(`${keyspace}:${table}`)).all();
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
