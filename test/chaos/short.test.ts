/**
 * A short chaos run as part of `npm test`: 5 real nodes (RF 3) in network namespaces,
 * 30 s of set and register clients while partitions and kill -9 strike on a fixed
 * seed's schedule, then heal, repair and check (scripts/chaos). The run must pass every
 * checker and leave its report. Skipped where the machine cannot run it: not root, no
 * network namespaces, no iptables.
 *
 * REGRESSION_SEEDS: seeds that once found a bug, replayed here with the flags they
 * failed with, so the bug stays fixed.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { preflight } from '../../scripts/chaos/namespace.js';

const RUN = fileURLToPath(new URL('../../scripts/chaos/run.js', import.meta.url));
/** The fault window; the whole run (start-up, heal, repair, reads) takes about twice as long. */
const TIME_SECONDS = 30;
const SHORT_RUN = ['--seed', '11', '--time', String(TIME_SECONDS), '--nodes', '5', '--rf', '3', '--nemesis', 'partition,kill', '--workload', 'set,register'];
const REGRESSION_SEEDS: { why: string; args: string[] }[] = [
  {
    // Before peers were saved, node1, restarted 2.6 s earlier, read at QUORUM from a
    // partial ring (itself and node2, both down during the delete) and returned a row
    // whose delete had been acknowledged (found as seed 777 in a 300 s run: a lost write).
    why: 'seed 102, kill and slow for 60 s (a restarted node coordinated on a partial ring)',
    args: ['--seed', '102', '--time', '60', '--nodes', '5', '--rf', '3', '--nemesis', 'kill,slow', '--workload', 'set,delete', '--clients', '8', '--rate', '80'],
  },
];

interface Finished {
  code: number | null;
  output: string;
}

function runChaos(args: readonly string[]): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [RUN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

// The short run takes about a minute, each regression seed about as long as its fault
// window plus half a minute: far more than tap's per-file default (120 s).
t.setTimeout(600_000);

const cannotRun = await preflight(false);

for (const { name, args } of [{ name: `a ${TIME_SECONDS} s run with partitions and kills`, args: SHORT_RUN }, ...REGRESSION_SEEDS.map(({ why, args }) => ({ name: why, args }))]) {
  t.test(`${name}: no acknowledged write lost, quorum reads see acknowledged writes, replicas converge`, { skip: cannotRun ?? false }, async (t) => {
    const out = await mkdtemp(join(tmpdir(), 'sibyl-chaos-'));
    // A failed run keeps its history, report and node logs for whoever investigates.
    t.teardown(() => (t.passing() ? rm(out, { recursive: true, force: true }) : t.comment(`chaos run kept in ${out}`)));
    const { code, output } = await runChaos([...args, '--out', join(out, 'run')]);
    t.equal(code, 0, 'every checker passes', { output });
    t.ok(existsSync(join(out, 'run', 'report.html')), 'the HTML report is written');
    t.match(readFileSync(join(out, 'run', 'summary.txt'), 'utf8'), /seed \d+: PASSED/, 'the summary names the seed and the verdict');
    t.ok(readFileSync(join(out, 'run', 'history.jsonl'), 'utf8').split('\n').length > 100, 'the history records the operations');
  });
}
