/**
 * The chaos network: one network namespace per node, each joined by a veth pair to a
 * central namespace that routes between them and runs the harness (clients, nemesis).
 *
 *   central namespace            node namespace i (1-based)
 *   vn<i>  10.77.<i>.1/24  <—veth—>  eth0  10.77.<i>.2/24, default route via 10.77.<i>.1
 *
 * Why not one namespace with every node on its own 127.0.0.N (what the chaos issue
 * first asked for): a node's own link is then what a fault acts on — a slow link is a
 * queueing discipline on that node's veth, not on a loopback shared by everyone, and
 * each node's packets carry its own address across the central namespace's FORWARD
 * chain, where a partition drops them. (Nodes now bind outgoing connections to their
 * listen address, so a 127.0.0.N layout could also tell them apart; the per-node links
 * are kept for the slow nemesis.) The harness's own connections to the nodes do not
 * cross FORWARD, so clients keep reaching both sides of a partition, as Jepsen's do.
 *
 * Deleting the namespaces removes every veth, route, rule and queueing discipline.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Topology {
  /** Namespace of the harness and the router. */
  central: string;
  /** Namespace of each node, node1 first. */
  nodeNamespaces: string[];
}

export const HTTP_PORT = 8080;
export const STORAGE_PORT = 7000;

/** Address of node `index` (0-based) in its namespace. */
export function nodeAddress(index: number): string {
  return `10.77.${index + 1}.2`;
}

/** Name of node `index`'s veth end in the central namespace. */
export function centralInterface(index: number): string {
  return `vn${index + 1}`;
}

export async function command(file: string, args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await run(file, [...args], { encoding: 'utf8' });
    return stdout;
  } catch (error) {
    const failure = error as Error & { stderr?: string; code?: string | number };
    const detail = failure.code === 'ENOENT' ? 'not installed' : (failure.stderr ?? '').trim() || failure.message;
    throw new Error(`${file} ${args.join(' ')}: ${detail}`);
  }
}

/** Runs a command inside namespace `namespace`. */
export function inNamespace(namespace: string, file: string, args: readonly string[]): Promise<string> {
  return command('ip', ['netns', 'exec', namespace, file, ...args]);
}

/** How the slow nemesis slows links: netem adds delay; tbf (where netem is missing) only limits the rate. */
export type SlowMode = 'netem' | 'tbf';
/** tbf's rate when netem is missing: low enough that bursts queue up and wait. */
const TBF_RATE = '1mbit';
const TBF_BURST = '32kbit';

/**
 * Fault rules of the central namespace (the harness runs there): partitions as FORWARD
 * drops between node addresses, slow links as a queueing discipline on each node's veth.
 */
export class NetworkControl {
  /** Set by the first slow(): which discipline this kernel has. */
  slowMode: SlowMode | null = null;

  constructor(private readonly nodes: number) {}

  /** Drops every packet between the two nodes of each pair, both ways. */
  async cut(pairs: readonly [number, number][]): Promise<void> {
    for (const [a, b] of pairs) {
      for (const [from, to] of [[a, b], [b, a]]) {
        await command('iptables', ['-A', 'FORWARD', '-s', nodeAddress(from), '-d', nodeAddress(to), '-j', 'DROP']);
      }
    }
  }

  async healPartitions(): Promise<void> {
    await command('iptables', ['-F', 'FORWARD']);
  }

  /** Slows every node's link (both the internode and the client traffic to it). */
  async slow(delayMs: number, jitterMs: number): Promise<SlowMode> {
    for (let i = 0; i < this.nodes; i++) {
      const device = centralInterface(i);
      if (this.slowMode !== 'tbf') {
        try {
          await command('tc', ['qdisc', 'replace', 'dev', device, 'root', 'netem', 'delay', `${delayMs}ms`, `${jitterMs}ms`]);
          this.slowMode = 'netem';
          continue;
        } catch (error) {
          if (this.slowMode === 'netem') throw error;
        }
      }
      await command('tc', ['qdisc', 'replace', 'dev', device, 'root', 'tbf', 'rate', TBF_RATE, 'burst', TBF_BURST, 'latency', `${delayMs * 10}ms`]);
      this.slowMode = 'tbf';
    }
    return this.slowMode!;
  }

  async fast(): Promise<void> {
    for (let i = 0; i < this.nodes; i++) {
      // No discipline to delete is fine: the link is already as fast as it gets.
      await command('tc', ['qdisc', 'del', 'dev', centralInterface(i), 'root']).catch(() => {});
    }
  }
}

/** What tbf means for the summary. */
export function describeSlowMode(mode: SlowMode | null): string | null {
  if (mode === 'tbf') return `netem is not available in this kernel: the slow nemesis limited each node's link to ${TBF_RATE} with tbf (queueing delay under load, no added latency)`;
  return null;
}
