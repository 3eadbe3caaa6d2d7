/**
 * Repair's guard against waiting on a dead replica: work done for a replica (asking it
 * for a Merkle tree) fails as soon as the failure detector convicts that replica, not
 * when a long validation timeout runs out. One listener on the cluster view serves
 * every guard: ClusterView.onChange has no way to remove a listener.
 */
import type { ClusterView } from '../cluster/cluster-view.js';
import type { Endpoint } from '../cluster/ring.js';

/** The replica was down when work for it started, or went down before it ended. */
export class ReplicaDown extends Error {
  constructor(readonly endpoint: Endpoint) {
    super(`/${endpoint.address} is down`);
    this.name = 'ReplicaDown';
  }
}

interface Guard {
  readonly endpoint: Endpoint;
  readonly fail: (error: ReplicaDown) => void;
}

export class LivenessWatch {
  private readonly guards = new Set<Guard>();

  constructor(private readonly view: ClusterView) {
    view.onChange(() => {
      for (const guard of this.guards) {
        if (!view.isAlive(guard.endpoint.id)) guard.fail(new ReplicaDown(guard.endpoint));
      }
    });
  }

  /**
   * `work()`'s result, or ReplicaDown as soon as `endpoint` is (or goes) down. The
   * work itself is not cancelled: its late outcome is ignored.
   */
  guard<T>(endpoint: Endpoint, work: () => Promise<T>): Promise<T> {
    if (!this.view.isAlive(endpoint.id)) return Promise.reject(new ReplicaDown(endpoint));
    return new Promise<T>((resolve, reject) => {
      const guard: Guard = {
        endpoint,
        fail: (error) => {
          this.guards.delete(guard);
          reject(error);
        },
      };
      this.guards.add(guard);
      Promise.resolve()
        .then(work)
        .then(resolve, reject)
        .finally(() => this.guards.delete(guard));
    });
  }
}
