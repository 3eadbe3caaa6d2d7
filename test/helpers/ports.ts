/**
 * Ports for nodes a test starts later. A port the OS handed out on `listen(0)` and that
 * was then released is in the ephemeral range, where the kernel also picks the local
 * port of every outgoing connection on the machine: between release and the node's own
 * bind, any connection (another test file's, say) may take it. Ports below that range
 * are only ever taken by an explicit bind, so these are picked there, at random, and
 * checked free.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const LOWEST = 10_000;

/** The first port of the kernel's ephemeral range (32768 when it cannot be read). */
function ephemeralStart(): number {
  try {
    const first = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(first) && first > LOWEST + 1000 ? first : 32_768;
  } catch {
    return 32_768;
  }
}

/** Whether `port` can be bound on 127.0.0.1 right now (released again at once). */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A port P such that P … P+count-1 were free a moment ago, below the ephemeral range. */
export async function freePortRun(count: number): Promise<number> {
  const end = ephemeralStart();
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = LOWEST + Math.floor(Math.random() * (end - LOWEST - count));
    let free = true;
    for (let port = base; free && port < base + count; port++) free = await bindable(port);
    if (free) return base;
  }
  throw new Error(`no run of ${count} free ports found below ${end}`);
}

/** A port that was free a moment ago, below the ephemeral range. */
export function freePort(): Promise<number> {
  return freePortRun(1);
}
