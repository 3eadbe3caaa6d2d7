/**
 * Where an SSTable's components live and which SSTables of a directory exist.
 *
 * Naming: `<dir>/sb-<generation>-<Component>.db`, e.g. `sb-12-Data.db`; a component
 * being written is `sb-<generation>-<Component>.db.tmp` until it is renamed into
 * place. Generations are positive integers the table store hands out, so names sort
 * and compare without a separate manifest.
 *
 * An SSTable exists once its TOC is in place: the writer renames every other
 * component first and the TOC last (see writer.ts). Whatever else is in the
 * directory with an SSTable prefix — temporaries, components of a generation without
 * a TOC — is the leftover of a write or delete that a crash interrupted.
 */
import { join } from 'node:path';
import { assert } from '../../errors.js';
import type { FileSystem } from '../fs.js';

/** Every component, the TOC last: the order the writer renames them in. */
export const COMPONENTS = ['Data', 'Index', 'Summary', 'Filter', 'CompressionInfo', 'Statistics', 'Digest', 'TOC'] as const;
export type Component = (typeof COMPONENTS)[number];

const FILE_NAME = /^sb-(\d+)-([A-Za-z]+)\.db(\.tmp)?$/;
const TEMPORARY_SUFFIX = '.tmp';

/** The file name of a component, without its directory (what the TOC lists after the prefix). */
export function componentSuffix(component: Component): string {
  return `${component}.db`;
}

export function componentPath(dir: string, generation: number, component: Component): string {
  assert(Number.isSafeInteger(generation) && generation > 0, `invalid SSTable generation ${generation}`);
  return join(dir, `sb-${generation}-${componentSuffix(component)}`);
}

export function temporaryPath(dir: string, generation: number, component: Component): string {
  return componentPath(dir, generation, component) + TEMPORARY_SUFFIX;
}

/**
 * Generations of the complete SSTables in `dir` (TOC present), ascending. Deletes the
 * leftovers of interrupted writes and deletes: every file of a generation without a
 * TOC, and temporaries of complete ones (an interrupted setLevel). Call it when
 * nothing writes SSTables into `dir` (at start-up), or it deletes work in progress.
 */
export async function listSSTables(fs: FileSystem, dir: string): Promise<number[]> {
  const byGeneration = new Map<number, { complete: boolean; files: string[]; temporaries: string[] }>();
  for (const name of await fs.readdir(dir)) {
    const match = FILE_NAME.exec(name);
    if (match === null) continue;
    const generation = Number(match[1]);
    let entry = byGeneration.get(generation);
    if (entry === undefined) {
      entry = { complete: false, files: [], temporaries: [] };
      byGeneration.set(generation, entry);
    }
    entry.files.push(name);
    if (match[3] !== undefined) entry.temporaries.push(name);
    else if (match[2] === 'TOC') entry.complete = true;
  }
  const complete: number[] = [];
  const leftovers: string[] = [];
  for (const [generation, entry] of byGeneration) {
    if (entry.complete) {
      complete.push(generation);
      leftovers.push(...entry.temporaries);
    } else {
      leftovers.push(...entry.files);
    }
  }
  for (const name of leftovers) await fs.unlink(join(dir, name));
  if (leftovers.length > 0) await fs.syncDir(dir);
  return complete.sort((a, b) => a - b);
}
