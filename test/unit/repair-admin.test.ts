/**
 * `sibyl repair` end to end in one process: in-process replicas (test/helpers/repair.ts),
 * NodeAdmin over the first one's RepairService, the /v1/admin repair routes, and the CLI
 * command printing a summary, JSON, the history, and exiting 1 when the repair failed.
 */
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import type { RepairProgress, RepairRecord } from '../../lib/api/admin-service.js';
import { NodeAdmin } from '../../lib/node-admin.js';
import type { SchemaManager } from '../../lib/schema/manager.js';
import type { LsmStorageEngine } from '../../lib/storage/lsm/engine.js';
import type { SystemStore } from '../../lib/system/system-store.js';
import { ADMIN_COMMANDS, type CommandIo } from '../../tools/commands/index.js';
import { clockTime, progressLine } from '../../tools/commands/repair.js';
import { setAliveEverywhere, update } from '../helpers/cluster.js';
import { repairCluster, writeTo, type RepairNode } from '../helpers/repair.js';
import { adminApp } from './fixtures/admin.js';

/** The admin API of `node` (only its repair operations are real) on a free port. */
async function serveRepairs(t: Test, node: RepairNode): Promise<{ host: string; inject: ReturnType<typeof adminApp>['inject'] }> {
  const admin = new NodeAdmin({
    engine: {} as LsmStorageEngine,
    schema: {} as SchemaManager,
    system: {} as SystemStore,
    dataDir: '/data',
    startedAtMs: 0,
    nowMs: () => 0,
    httpAddress: () => '',
    repairs: node.repairs,
  });
  const app = adminApp(admin);
  t.teardown(() => app.close());
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { host: `127.0.0.1:${(app.server.address() as AddressInfo).port}`, inject: app.inject.bind(app) };
}

async function sibyl(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CommandIo = { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s) };
  const code = await ADMIN_COMMANDS.find((c) => c.name === 'repair')!.run(argv, io);
  return { code, stdout, stderr };
}

t.test('sibyl repair prints a summary of what it repaired and streamed, or the final progress as JSON', async (t) => {
  const cluster = await repairCluster(t);
  const [a, b] = cluster.nodes;
  await writeTo(cluster.nodes, () => [update(1, [[1, 'x']])]);
  await writeTo([b], () => [update(2, [[1, 'only on b']])]);
  const { host } = await serveRepairs(t, a);

  const run = await sibyl('-h', host, 'ks', 'events', '--full');
  t.equal(run.code, 0, run.stderr);
  t.equal(run.stderr, '', 'no progress line when stderr is not a terminal');
  t.match(
    run.stdout,
    /^Repair [0-9a-f-]{36} succeeded in \d+\.\d s \(keyspace ks\)\nRanges: {3}12 of 12 repaired, [1-9]\d* differing, 0 failed\nStreamed: [1-9]\d* partitions, \d+ bytes \(.+\/s\)\n$/,
  );

  const json = await sibyl('-h', host, '--json', '--pr');
  t.equal(json.code, 0);
  const progress = JSON.parse(json.stdout) as RepairProgress;
  t.match(progress, { state: 'succeeded', primaryRangeOnly: true, rangesTotal: 4, rangesDone: 4, rangesDiffering: 0, bytesStreamed: 0, errors: [] });
  t.same(progress.keyspaces, ['ks']);
});

t.test('sibyl repair exits 1 and lists the failed ranges when a replica is down', async (t) => {
  const cluster = await repairCluster(t);
  const [a, , c] = cluster.nodes;
  cluster.network.isolate(c.endpoint.address);
  setAliveEverywhere(cluster.nodes, c.endpoint, false);
  const { host } = await serveRepairs(t, a);
  const run = await sibyl('-h', host, 'ks');
  t.equal(run.code, 1);
  t.match(run.stdout, /^Repair \S+ failed in .*\nRanges: {3}0 of 12 repaired, 0 differing, 12 failed\n.*\nFailed ranges:\n( {2}ks\.events \(-?\d+, -?\d+\]: \/127\.0\.0\.3:7000 is down\n){12}$/);
  const json = await sibyl('-h', host, 'ks', '--json');
  t.equal(json.code, 1);
  t.equal((JSON.parse(json.stdout) as RepairProgress).state, 'failed');
});

t.test('sibyl repair --history lists recorded repairs as a table or JSON', async (t) => {
  const cluster = await repairCluster(t);
  const { host } = await serveRepairs(t, cluster.nodes[0]);
  t.same(await sibyl('-h', host, '--history'), { code: 0, stdout: 'No repairs recorded.\n', stderr: '' });
  const { stdout } = await sibyl('-h', host, '--json', 'ks');
  const { id } = JSON.parse(stdout) as RepairProgress;
  const table = await sibyl('-h', host, '--history', 'ks', 'events');
  t.match(table.stdout, new RegExp(`^Repair ID +Keyspace +Table +Ranges +Started +Took +Result\\n${id} +ks +events +12 +\\d{4}-.+Z +\\d+\\.\\d s +succeeded\\n$`));
  const json = JSON.parse((await sibyl('-h', host, '--history', '--json')).stdout) as RepairRecord[];
  t.match(json, [{ id, keyspace: 'ks', table: 'events', succeeded: true }]);
  t.equal(json[0].ranges.length, 12);
  const misuse = await sibyl('-h', host, '--history', '--pr');
  t.equal(misuse.code, 2);
});

t.test('the repair routes check their input and refuse unknown repairs and scopes', async (t) => {
  const cluster = await repairCluster(t);
  const { inject } = await serveRepairs(t, cluster.nodes[0]);
  const tablesAlone = await inject({ method: 'POST', url: '/v1/admin/repair', payload: { tables: ['events'] } });
  t.equal(tablesAlone.statusCode, 400);
  const badFlag = await inject({ method: 'POST', url: '/v1/admin/repair', payload: { keyspace: 'ks', primaryRangeOnly: 'yes' } });
  t.equal(badFlag.statusCode, 400);
  const unknownKeyspace = await inject({ method: 'POST', url: '/v1/admin/repair', payload: { keyspace: 'nope' } });
  t.equal(unknownKeyspace.statusCode, 400);
  t.match(unknownKeyspace.json(), { error: { code: 'Invalid', message: "Keyspace 'nope' does not exist" } });
  const unknownRepair = await inject({ method: 'GET', url: '/v1/admin/repair/no-such-repair' });
  t.equal(unknownRepair.statusCode, 400);
  t.match(unknownRepair.json(), { error: { code: 'Invalid', message: /Unknown repair no-such-repair/ } });
  const noBody = await inject({ method: 'POST', url: '/v1/admin/repair' });
  t.equal(noBody.statusCode, 200, 'no body: every non-system keyspace');
  t.match(noBody.json(), { id: /^[0-9a-f-]{36}$/ });
});

t.test('the progress line shows the bar, ranges, streamed data, rate and ETA', async (t) => {
  const running: RepairProgress = {
    id: 'r',
    state: 'running',
    keyspaces: ['ks'],
    primaryRangeOnly: false,
    rangesTotal: 12,
    rangesDone: 3,
    rangesFailed: 1,
    rangesDiffering: 2,
    partitionsStreamed: 40,
    bytesStreamed: 3 * 1024 * 1024,
    startedAtMs: 0,
    finishedAtMs: null,
    bytesPerSecond: 1536,
    etaMs: 65_000,
    errors: [],
  };
  t.equal(
    progressLine(running),
    '[######------------------] 3/12 ranges (1 failed), 40 partitions, 3 MiB streamed, 1.5 KiB/s, ETA 1:05',
  );
  t.match(progressLine({ ...running, rangesDone: 0, etaMs: null }), /ETA \?$/);
  t.equal(clockTime(3_723_000), '1:02:03');
});
