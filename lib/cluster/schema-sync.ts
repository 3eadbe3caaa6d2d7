/**
 * Schema propagation between nodes, and the wait for schema agreement after DDL.
 *
 * Every node gossips its schema version (SCHEMA state, a hash of the schema's content,
 * so equal schemas have equal versions). Two paths bring schemas together:
 *
 * - Push: after a DDL statement changed the local schema, the node sends SCHEMA_PUSH
 *   (the DDL's target, for the log, and the whole encoded schema) to every live
 *   endpoint, which merges it (below) and answers with its schema version afterwards,
 *   so the DDL usually knows at once whether every live node agrees.
 * - Pull: once a second the live endpoints' gossiped versions are compared with the
 *   local one; from an endpoint with a different version the node asks SCHEMA_PULL and
 *   merges what it gets. This brings a node that was down during a DDL (or a new node)
 *   up to date, and heals a push that was lost.
 *
 * Payloads are the system store's JSON schema encoding (lib/system/schema-codec.ts) as
 * UTF-8 bytes: the schema already has one versioned, validated encoding, and a second
 * one in protobuf would have to be kept in step with it.
 *
 * The merge (mergeSchemas) is deterministic, commutative and idempotent, so nodes that
 * keep pulling from each other converge on one schema. Like Cassandra's schema tables,
 * it is last-write-wins on the timestamps DDL statements give what they change:
 * - of two definitions of a keyspace (its replication and durable_writes) or of a
 *   table, the one with the newer timestamp wins — ties (two nodes that changed it in
 *   the same microsecond) going to the definition whose encoding sorts last;
 * - a DROP leaves the drop time in the schema (Schema.dropped), and a keyspace or table
 *   whose newest definition is not newer than its drop (a keyspace's drop covers its
 *   tables) is gone, so a node that was down during a DROP cannot bring it back — but a
 *   table created after a keyspace's drop (by a node that missed it) keeps its keyspace;
 * - a definition created after the drop (CREATE again) is newer and lives.
 * A table is merged whole: of two ALTERs made concurrently on different nodes, the later
 * one wins and the other is lost (Cassandra merges column by column; sibyl does not yet).
 */
import type { NetLogger, Transport } from '../net/transport.js';
import { SILENT_NET_LOGGER } from '../net/transport.js';
import type { SchemaManager } from '../schema/manager.js';
import type { KeyspaceMetadata, TableMetadata } from '../schema/metadata.js';
import { droppedKey, replicationToMap, Schema } from '../schema/schema.js';
import { decodeSchema, encodeSchema, encodeTable } from '../system/schema-codec.js';

/** What a DDL statement changed, as its schema_change result names it. */
export interface SchemaChange {
  readonly change: 'CREATED' | 'UPDATED' | 'DROPPED';
  readonly target: 'KEYSPACE' | 'TABLE';
  readonly keyspace: string;
  readonly table?: string;
}

/** A live endpoint other than this node, with the schema version gossip last heard from it. */
export interface SchemaPeer {
  readonly address: string;
  readonly schemaVersion: string | null;
}

export interface SchemaSyncOptions {
  readonly transport: Transport;
  readonly schema: SchemaManager;
  /** The live endpoints other than this node (Membership.describe(), the UN/UJ/UL ones). */
  readonly livePeers: () => readonly SchemaPeer[];
  /** How long a DDL answer waits for every live node to hold its schema (default 10 s). */
  readonly agreementTimeoutMs?: number;
  /** How often the agreement wait looks at gossip again (default 200 ms). */
  readonly agreementPollMs?: number;
  /** Timeout of one SCHEMA_PUSH or SCHEMA_PULL request (default 5 s). */
  readonly requestTimeoutMs?: number;
  readonly logger?: NetLogger;
}

export const SCHEMA_AGREEMENT_TIMEOUT_MS_DEFAULT = 10_000;

const EMPTY = new Uint8Array(0);
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

interface PushMessage {
  change: SchemaChange;
  schema: unknown;
}

// ---------------------------------------------------------------------------
// The merge rule (pure)

/** The newer table definition; on equal timestamps the later-sorting encoding, so every node picks the same. */
function newerTable(a: TableMetadata, b: TableMetadata): TableMetadata {
  if (a === b) return a;
  if (a.timestamp !== b.timestamp) return a.timestamp > b.timestamp ? a : b;
  return JSON.stringify(encodeTable(a)) >= JSON.stringify(encodeTable(b)) ? a : b;
}

function keyspaceAttributes(keyspace: KeyspaceMetadata): string {
  return JSON.stringify([replicationToMap(keyspace.replication), keyspace.durableWrites]);
}

/** The keyspace definition (replication, durable_writes, timestamp) that wins, by the same rule. */
function newerKeyspace(a: KeyspaceMetadata, b: KeyspaceMetadata): KeyspaceMetadata {
  if (a.timestamp !== b.timestamp) return a.timestamp > b.timestamp ? a : b;
  return keyspaceAttributes(a) >= keyspaceAttributes(b) ? a : b;
}

/** Whether a definition made at `timestamp` survives a drop at `droppedAt` (0: never dropped). */
const outlives = (timestamp: number, droppedAt: number): boolean => droppedAt === 0 || timestamp > droppedAt;

function newerOf<T>(a: T | undefined, b: T | undefined, newer: (a: T, b: T) => T): T {
  if (a === undefined) return b!;
  return b === undefined ? a : newer(a, b);
}

/**
 * The merge of two schemas under the rule in the header. Returns `local` itself when
 * the merge changes nothing, so SchemaManager.apply sees no change.
 */
export function mergeSchemas(local: Schema, remote: Schema): Schema {
  const dropped = new Map(local.dropped);
  for (const [key, at] of remote.dropped) if (at > (dropped.get(key) ?? 0)) dropped.set(key, at);
  const keyspaces = new Map<string, KeyspaceMetadata>();
  for (const name of new Set([...local.keyspaces.keys(), ...remote.keyspaces.keys()])) {
    const mine = local.keyspaces.get(name);
    const theirs = remote.keyspaces.get(name);
    const keyspace = newerOf(mine, theirs, newerKeyspace);
    const keyspaceDroppedAt = dropped.get(droppedKey(name)) ?? 0;
    const tables = new Map<string, TableMetadata>();
    for (const tableName of new Set([...(mine?.tables.keys() ?? []), ...(theirs?.tables.keys() ?? [])])) {
      const table = newerOf(mine?.tables.get(tableName), theirs?.tables.get(tableName), newerTable);
      const droppedAt = Math.max(keyspaceDroppedAt, dropped.get(droppedKey(name, tableName)) ?? 0);
      if (outlives(table.timestamp, droppedAt)) tables.set(tableName, table);
    }
    // A keyspace dropped after its newest definition is gone, unless a node that missed
    // the DROP created a table in it since: then the table keeps its keyspace (Cassandra
    // would leave an orphan table).
    if (!outlives(keyspace.timestamp, keyspaceDroppedAt) && tables.size === 0) continue;
    keyspaces.set(name, { ...keyspace, tables });
  }
  const merged = new Schema(keyspaces, dropped);
  return merged.version === local.version ? local : merged;
}

export function encodeSchemaBytes(schema: Schema): Uint8Array {
  return textEncoder.encode(JSON.stringify(encodeSchema(schema)));
}

export function decodeSchemaBytes(bytes: Uint8Array): Schema {
  return decodeSchema(JSON.parse(textDecoder.decode(bytes)));
}

// ---------------------------------------------------------------------------
// The I/O shell

export class SchemaSync {
  private readonly transport: Transport;
  private readonly schema: SchemaManager;
  private readonly livePeers: () => readonly SchemaPeer[];
  private readonly agreementTimeoutMs: number;
  private readonly agreementPollMs: number;
  private readonly requestTimeoutMs: number;
  private readonly logger: NetLogger;
  /** The version last pulled from each endpoint: pulling it again would merge nothing new. */
  private readonly pulled = new Map<string, string>();
  private pulling = false;
  private stopped = false;

  constructor(options: SchemaSyncOptions) {
    this.transport = options.transport;
    this.schema = options.schema;
    this.livePeers = options.livePeers;
    this.agreementTimeoutMs = options.agreementTimeoutMs ?? SCHEMA_AGREEMENT_TIMEOUT_MS_DEFAULT;
    this.agreementPollMs = options.agreementPollMs ?? 200;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 5_000;
    this.logger = options.logger ?? SILENT_NET_LOGGER;
  }

  /** Registers the SCHEMA_PULL and SCHEMA_PUSH handlers. Call once. */
  register(): void {
    this.transport.onMessage('SCHEMA_PULL', () => encodeSchemaBytes(this.schema.current));
    this.transport.onMessage('SCHEMA_PUSH', async (from, payload) => {
      const message = JSON.parse(textDecoder.decode(payload)) as PushMessage;
      const pushed = decodeSchema(message.schema);
      const after = await this.schema.apply((current) => mergeSchemas(current, pushed));
      const { change, target, keyspace, table } = message.change;
      const what = `${change} ${target} ${keyspace}${table === undefined ? '' : `.${table}`}`;
      this.logger.info({ from, version: after.version }, `Schema change from /${from} (${what}) applied`);
      return textEncoder.encode(after.version);
    });
  }

  /** Stops pulling; handlers stay registered (transports cannot remove one) but pulls end. */
  stop(): void {
    this.stopped = true;
  }

  /**
   * Pushes the local schema after `change` to every live endpoint and waits, at most
   * agreementTimeoutMs, until every live endpoint holds the local version. Resolves
   * whether agreement was reached.
   */
  async announce(change: SchemaChange): Promise<boolean> {
    const deadline = Date.now() + this.agreementTimeoutMs;
    const payload = textEncoder.encode(JSON.stringify({ change, schema: encodeSchema(this.schema.current) } satisfies PushMessage));
    const answered = new Map<string, string>();
    const timeoutMs = Math.min(this.requestTimeoutMs, this.agreementTimeoutMs);
    await Promise.all(
      this.livePeers().map((peer) =>
        this.transport.request(peer.address, 'SCHEMA_PUSH', payload, timeoutMs).then(
          (answer) => answered.set(peer.address, textDecoder.decode(answer)),
          (error: unknown) => this.logger.warn({ to: peer.address, err: (error as Error).message }, `Schema push to /${peer.address} failed`),
        ),
      ),
    );
    for (;;) {
      const version = this.schema.current.version;
      const agreed = this.livePeers().every((peer) => peer.schemaVersion === version || answered.get(peer.address) === version);
      if (agreed) return true;
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise((resolve) => setTimeout(resolve, Math.min(left, this.agreementPollMs)));
    }
  }

  /**
   * Pulls from one live endpoint whose gossiped version differs from the local one
   * (and was not pulled already) and merges its schema. One pull at a time.
   */
  async pullFromDisagreeing(): Promise<void> {
    if (this.pulling || this.stopped) return;
    const local = this.schema.current.version;
    const peer = this.livePeers().find(
      (p) => p.schemaVersion !== null && p.schemaVersion !== local && this.pulled.get(p.address) !== p.schemaVersion,
    );
    if (peer === undefined) return;
    this.pulling = true;
    try {
      const remote = decodeSchemaBytes(await this.transport.request(peer.address, 'SCHEMA_PULL', EMPTY, this.requestTimeoutMs));
      this.pulled.set(peer.address, remote.version);
      if (this.stopped) return;
      const after = await this.schema.apply((current) => mergeSchemas(current, remote));
      if (after.version !== local) this.logger.info({ from: peer.address, version: after.version }, `Schema merged from /${peer.address}`);
    } catch (error) {
      this.logger.warn({ from: peer.address, err: (error as Error).message }, `Schema pull from /${peer.address} failed`);
    } finally {
      this.pulling = false;
    }
  }
}
