/**
 * Running the compiled `sibyl` CLI as a real process, for integration tests.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** dist/tools/sibyl.js (or the same place under a test build directory). */
export const CLI = fileURLToPath(new URL('../../tools/sibyl.js', import.meta.url));

export interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `sibyl ...args` to the end and returns its exit code and output. */
export function runCli(args: readonly string[]): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
