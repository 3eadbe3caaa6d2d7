/**
 * Consistency levels and their arithmetic: how many replica answers a request must
 * wait for. Pure functions; the coordinator supplies replica counts.
 */
import { InvalidRequest } from '../errors.js';
import type { ReplicationStrategy } from '../schema/metadata.js';

export type ConsistencyName =
  | 'ANY'
  | 'ONE'
  | 'TWO'
  | 'THREE'
  | 'QUORUM'
  | 'ALL'
  | 'LOCAL_ONE'
  | 'LOCAL_QUORUM'
  | 'EACH_QUORUM'
  | 'SERIAL'
  | 'LOCAL_SERIAL';

export const CONSISTENCY_LEVELS: readonly ConsistencyName[] = [
  'ANY',
  'ONE',
  'TWO',
  'THREE',
  'QUORUM',
  'ALL',
  'LOCAL_ONE',
  'LOCAL_QUORUM',
  'EACH_QUORUM',
  'SERIAL',
  'LOCAL_SERIAL',
];

/** The default when a request names none, as cqlsh does. */
export const DEFAULT_CONSISTENCY: ConsistencyName = 'ONE';

export function totalReplicationFactor(replication: ReplicationStrategy): number {
  if (replication.class === 'SimpleStrategy') return replication.replicationFactor;
  return Object.values(replication.dataCenters).reduce((sum, n) => sum + n, 0);
}

export function localReplicationFactor(replication: ReplicationStrategy, localDc: string): number {
  if (replication.class === 'SimpleStrategy') return replication.replicationFactor;
  return replication.dataCenters[localDc] ?? 0;
}

const quorumOf = (replicas: number): number => Math.floor(replicas / 2) + 1;

/**
 * Replica answers a request at `consistency` waits for, counting every dc together
 * (EACH_QUORUM: the sum of each dc's quorum). ANY counts as one (a hint will do).
 */
export function blockFor(consistency: ConsistencyName, replication: ReplicationStrategy, localDc: string): number {
  switch (consistency) {
    case 'ANY':
    case 'ONE':
    case 'LOCAL_ONE':
      return 1;
    case 'TWO':
      return 2;
    case 'THREE':
      return 3;
    case 'QUORUM':
    case 'SERIAL':
      return quorumOf(totalReplicationFactor(replication));
    case 'ALL':
      return totalReplicationFactor(replication);
    case 'LOCAL_QUORUM':
    case 'LOCAL_SERIAL':
      return quorumOf(localReplicationFactor(replication, localDc));
    case 'EACH_QUORUM':
      if (replication.class === 'SimpleStrategy') return quorumOf(replication.replicationFactor);
      return Object.values(replication.dataCenters).reduce((sum, n) => sum + (n > 0 ? quorumOf(n) : 0), 0);
  }
}

/** Checks a level is usable for the kind of request (Cassandra's rules). */
export function validateForRead(consistency: ConsistencyName): void {
  if (consistency === 'ANY') throw new InvalidRequest('ANY ConsistencyLevel is only supported for writes');
  if (consistency === 'EACH_QUORUM') throw new InvalidRequest('EACH_QUORUM ConsistencyLevel is only supported for writes');
  if (consistency === 'SERIAL' || consistency === 'LOCAL_SERIAL') {
    throw new InvalidRequest('SERIAL reads arrive with lightweight transactions; they are not supported yet');
  }
}

export function validateForWrite(consistency: ConsistencyName): void {
  if (consistency === 'SERIAL' || consistency === 'LOCAL_SERIAL') {
    throw new InvalidRequest('You must use conditional updates for serializable writes');
  }
}
