/**
 * Finds the .proto files of protocol/ from wherever the compiled code runs (dist/,
 * a test build directory, an installed package): they are the source of truth for
 * every serialized message and are loaded, not copied, at start.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function protocolFile(name: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'protocol', name);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`protocol/${name} not found above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}
