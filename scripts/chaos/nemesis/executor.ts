/**
 * Applies a fault schedule to the running cluster at its times (from the start of the
 * fault window) and records each fault applied and healed. Events run one after the
 * other; one that takes long (a restart) delays the next, and the history holds the
 * times they really happened. heal() undoes whatever is still broken.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChaosCluster } from '../cluster.js';
import { type FaultPhase, type HistoryLog, wallClockMs } from '../history.js';
import type { NetworkControl } from '../network.js';
import { describeFault, type Fault, type FaultWindow } from './schedule.js';

export class NemesisExecutor {
  private stopped = false;
  /** Faults applied and not yet undone. */
  private readonly active = new Set<Fault>();

  constructor(
    private readonly cluster: ChaosCluster,
    private readonly network: NetworkControl,
    private readonly log: HistoryLog,
  ) {}

  /** Runs the schedule from `startMs` (wall clock); returns early after stop(). */
  async run(windows: readonly FaultWindow[], startMs: number): Promise<void> {
    const events = windows
      .flatMap((window) => [
        { atMs: window.startMs, phase: 'start' as const, window },
        { atMs: window.stopMs, phase: 'stop' as const, window },
      ])
      .sort((a, b) => a.atMs - b.atMs || (a.phase === 'stop' ? -1 : 1));
    for (const event of events) {
      const wait = startMs + event.atMs - wallClockMs();
      if (wait > 0) await sleep(wait);
      if (this.stopped) return;
      for (const fault of event.window.faults) await this.apply(fault, event.phase, event.window.id);
    }
  }

  stop(): void {
    this.stopped = true;
  }

  /** Undoes every fault still active, whatever the schedule said. */
  async heal(): Promise<void> {
    for (const fault of [...this.active]) await this.apply(fault, 'heal', -1);
  }

  private async apply(fault: Fault, phase: FaultPhase, window: number): Promise<void> {
    const starting = phase === 'start';
    const description = `${starting ? '' : 'undo '}${describeFault(fault)}`;
    let error: string | undefined;
    try {
      if (starting) this.active.add(fault);
      else this.active.delete(fault);
      await this.perform(fault, starting);
    } catch (failure) {
      error = (failure as Error).message;
      // Not undone: the final heal tries again.
      if (!starting) this.active.add(fault);
    }
    this.log.record({ type: 'nemesis', atMs: wallClockMs(), phase, window, kind: fault.kind, description, ...(error === undefined ? {} : { error }) });
  }

  private async perform(fault: Fault, starting: boolean): Promise<void> {
    const nodes = 'nodes' in fault ? fault.nodes.map((index) => this.cluster.nodes[index]) : [];
    switch (fault.kind) {
      case 'partition':
        return starting ? this.network.cut(fault.cuts) : this.network.healPartitions();
      case 'kill':
        for (const node of nodes) await (starting ? this.cluster.kill(node) : this.cluster.start(node));
        return;
      case 'pause':
        for (const node of nodes) (starting ? this.cluster.pause(node) : this.cluster.resume(node));
        return;
      case 'skew':
        for (const [i, node] of nodes.entries()) await this.cluster.restartWithOffset(node, starting ? fault.offsetsMs[i] : 0);
        return;
      case 'slow':
        if (starting) await this.network.slow(fault.delayMs, fault.jitterMs);
        else await this.network.fast();
        return;
    }
  }
}
