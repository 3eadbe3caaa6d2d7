/**
 * The outer half of a chaos run: checks that the machine can run it (root, network
 * namespaces, iptables; tc when the slow nemesis is asked for), builds the namespaces
 * of network.ts, runs the script again inside the central one (`ip netns exec`), and
 * tears everything down when that ends — success, failure, Ctrl-C, SIGTERM or an
 * uncaught error: every process left in the namespaces (the nodes) gets SIGKILL and the
 * namespaces are deleted, which takes their links, rules and disciplines with them.
 */
import { spawn } from 'node:child_process';
import { centralInterface, command, inNamespace, nodeAddress, type Topology } from './network.js';

/** Set in the environment of the run inside the namespace: the Topology as JSON. */
export const INSIDE_ENV = 'SIBYL_CHAOS_TOPOLOGY';
/** Exit code when the machine cannot run the suite. */
export const EXIT_CANNOT_RUN = 3;
/** How long the inner run may take to stop its nodes after a signal before it is killed. */
const STOP_GRACE_MS = 15_000;

export class CannotRun extends Error {
  override name = 'CannotRun';
}

/** What the machine lacks, or null. `needTc` when the slow nemesis will run. */
export async function preflight(needTc: boolean): Promise<string | null> {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return 'the chaos suite must run as root: it creates network namespaces and firewall rules (sudo npm run chaos -- …)';
  }
  try {
    await command('ip', ['netns', 'list']);
  } catch (error) {
    return `'ip netns' does not work here (${(error as Error).message}); install iproute2 (apt-get install -y iproute2)`;
  }
  try {
    await command('iptables', ['--version']);
  } catch {
    return 'iptables is missing: install it (apt-get install -y iptables); partitions are firewall rules';
  }
  // Listing namespaces works where creating one does not (a container without CAP_SYS_ADMIN).
  const probe = `sibylchaosprobe${process.pid}`;
  try {
    await command('ip', ['netns', 'add', probe]);
    await inNamespace(probe, 'iptables', ['-L', 'FORWARD', '-n']);
  } catch (error) {
    return `cannot create a network namespace with working iptables here: ${(error as Error).message}`;
  } finally {
    await command('ip', ['netns', 'delete', probe]).catch(() => {});
  }
  if (needTc) {
    try {
      await command('tc', ['-V']);
    } catch {
      return 'tc is missing and the slow nemesis needs it: install iproute2 (apt-get install -y iproute2)';
    }
  }
  return null;
}

export function topologyFor(nodes: number, tag = String(process.pid)): Topology {
  const central = `sibylchaos${tag}`;
  return { central, nodeNamespaces: Array.from({ length: nodes }, (_, i) => `${central}n${i + 1}`) };
}

/** Creates the namespaces and links of network.ts; on failure removes what it made. */
export async function createNamespaces(topology: Topology): Promise<void> {
  try {
    await command('ip', ['netns', 'add', topology.central]);
    await inNamespace(topology.central, 'ip', ['link', 'set', 'lo', 'up']);
    await inNamespace(topology.central, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
    for (const [i, namespace] of topology.nodeNamespaces.entries()) {
      const [router, node] = [nodeAddress(i).replace(/\.2$/, '.1'), nodeAddress(i)];
      await command('ip', ['netns', 'add', namespace]);
      await inNamespace(namespace, 'ip', ['link', 'set', 'lo', 'up']);
      await command('ip', ['link', 'add', centralInterface(i), 'netns', topology.central, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', namespace]);
      await inNamespace(topology.central, 'ip', ['addr', 'add', `${router}/24`, 'dev', centralInterface(i)]);
      await inNamespace(topology.central, 'ip', ['link', 'set', centralInterface(i), 'up']);
      await inNamespace(namespace, 'ip', ['addr', 'add', `${node}/24`, 'dev', 'eth0']);
      await inNamespace(namespace, 'ip', ['link', 'set', 'eth0', 'up']);
      await inNamespace(namespace, 'ip', ['route', 'add', 'default', 'via', router]);
    }
    // iptables can be installed and still not work in a namespace (no kernel support).
    await inNamespace(topology.central, 'iptables', ['-L', 'FORWARD', '-n']);
  } catch (error) {
    await deleteNamespaces(topology);
    throw new CannotRun(`could not build the chaos network: ${(error as Error).message}`);
  }
}

/** SIGKILL to every process still in the namespaces (the nodes this run started), then deletes them. */
export async function deleteNamespaces(topology: Topology): Promise<void> {
  for (const namespace of [...topology.nodeNamespaces, topology.central]) {
    const pids = await command('ip', ['netns', 'pids', namespace]).catch(() => '');
    for (const pid of pids.split('\n').map(Number).filter((pid) => Number.isInteger(pid) && pid > 0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    await command('ip', ['netns', 'delete', namespace]).catch(() => {});
  }
}

/**
 * Builds the namespaces, runs `script args` inside the central one with the topology in
 * its environment, and tears down when it ends; resolves its exit code. A first SIGINT or
 * SIGTERM is passed on (the inner run stops its nodes and writes what it has); the inner
 * run is killed if it has not ended STOP_GRACE_MS later.
 */
export async function runInNamespaces(topology: Topology, script: string, args: readonly string[], say: (line: string) => void): Promise<number> {
  let teardown: Promise<void> | null = null;
  const tearDown = () => (teardown ??= deleteNamespaces(topology));
  const onUncaught = (error: unknown) => {
    say(`chaos: ${(error as Error).stack ?? String(error)}`);
    void tearDown().finally(() => process.exit(1));
  };
  process.on('uncaughtException', onUncaught);
  try {
    await createNamespaces(topology);
    const child = spawn('ip', ['netns', 'exec', topology.central, process.execPath, script, ...args], {
      stdio: 'inherit',
      env: { ...process.env, [INSIDE_ENV]: JSON.stringify(topology) },
    });
    let killTimer: NodeJS.Timeout | null = null;
    const onSignal = (signal: NodeJS.Signals) => {
      say(`chaos: ${signal}: stopping the run and tearing down the namespaces`);
      // Ctrl-C at a terminal reaches the inner run too (same process group); a signal sent to this process alone is passed on.
      child.kill('SIGTERM');
      killTimer ??= setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const code = await new Promise<number>((resolve) => {
      child.once('error', (error) => {
        say(`chaos: could not start the run inside the namespace: ${error.message}`);
        resolve(1);
      });
      child.once('exit', (exitCode, signal) => resolve(exitCode ?? (signal === null ? 1 : 128 + 15)));
    });
    if (killTimer !== null) clearTimeout(killTimer);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    return code;
  } finally {
    await tearDown();
    process.off('uncaughtException', onUncaught);
  }
}
