/**
 * `npm run bench:http`: how close the CQL HTTP path comes to what fastify alone can do.
 *
 * A child process runs a node (SibylNode with the default CQL service, lib/node.ts
 * createCqlService) and, beside it, a bare fastify "ceiling" route that only parses and
 * echoes the JSON body. The parent drives both with autocannon (50 connections, N
 * seconds each, after a short warm-up), so load generator and servers do not share an
 * event loop, and prints req/s, p50 and p99 for:
 *   (a) ceiling echo of the INSERT body, (b) INSERT with params, (c) SELECT by key,
 * and the ratios insert/ceiling and select/ceiling.
 *
 * Flags: --duration S (10), --warmup S (1), --connections N (50), --log-level L (warn).
 */
import autocannon, { type Result } from 'autocannon';
import { type ChildProcess, fork } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import { loadConfig } from '../../lib/config.js';
import { SibylNode } from '../../lib/node.js';

/** What the server child reports once both servers listen. */
interface Addresses {
  node: string;
  ceiling: string;
}

const HEADERS = { 'content-type': 'application/json' };
const SETUP = [
  "CREATE KEYSPACE IF NOT EXISTS bench WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
  'CREATE TABLE IF NOT EXISTS bench.kv (id text PRIMARY KEY, value text)',
  "INSERT INTO bench.kv (id, value) VALUES ('k42', 'forty-two')",
];
// `[<id>]` gives every INSERT a fresh partition key (autocannon idReplacement).
const INSERT_BODY = JSON.stringify({
  query: 'INSERT INTO bench.kv (id, value) VALUES (?, ?)',
  params: ['[<id>]', 'a value of some thirty-two bytes'],
});
const SELECT_BODY = JSON.stringify({ query: 'SELECT * FROM bench.kv WHERE id = ?', params: ['k42'] });

/** Child: node + ceiling on free ports; stops the node gracefully when told to. */
async function serve(dataDir: string, logLevel: string): Promise<void> {
  const config = loadConfig({ flags: { dataDir, httpAddress: '127.0.0.1', httpPort: 0 } });
  const node = await SibylNode.start(config, { logger: { level: logLevel } });
  const ceiling = Fastify({ logger: false });
  ceiling.post('/echo', async (request) => request.body);
  await ceiling.listen({ host: '127.0.0.1', port: 0 });
  const { port } = ceiling.server.address() as AddressInfo;
  const addresses: Addresses = { node: node.httpAddress, ceiling: `127.0.0.1:${port}` };
  process.send!(addresses);
  process.once('message', async () => {
    await Promise.all([node.stop(), ceiling.close()]);
    process.disconnect();
  });
}

interface Scenario {
  name: string;
  url: string;
  body: string;
}

interface Measured {
  name: string;
  result: Result;
}

async function measure(scenario: Scenario, connections: number, duration: number, warmup: number): Promise<Measured> {
  const options = { url: scenario.url, method: 'POST', headers: HEADERS, body: scenario.body, idReplacement: true, connections } as const;
  if (warmup > 0) await autocannon({ ...options, duration: warmup });
  return { name: scenario.name, result: await autocannon({ ...options, duration }) };
}

async function setUpSchema(node: string): Promise<void> {
  for (const query of SETUP) {
    const response = await fetch(`http://${node}/v1/cql`, { method: 'POST', headers: HEADERS, body: JSON.stringify({ query }) });
    if (response.status !== 200) {
      // Measured anyway: the report shows the failures, and the setup error says why.
      process.stderr.write(`warning: setup statement failed (${response.status}): ${await response.text()}\n`);
      return;
    }
  }
}

function report(measured: Measured[]): string {
  const header = ['scenario', 'req/s', 'p50 ms', 'p99 ms', 'non-2xx', 'errors'];
  const rows = measured.map(({ name, result }) => [
    name,
    result.requests.average.toFixed(0),
    result.latency.p50.toFixed(2),
    result.latency.p99.toFixed(2),
    String(result.non2xx),
    String(result.errors + result.timeouts),
  ]);
  const widths = header.map((_, column) => Math.max(...[header, ...rows].map((row) => row[column].length)));
  const line = (row: string[]) => row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]) : cell.padStart(widths[column]))).join('  ');
  const [ceiling, insert, select] = measured.map(({ result }) => result.requests.average);
  return [
    line(header),
    ...rows.map(line),
    '',
    `insert/ceiling  ${(insert / ceiling).toFixed(2)}`,
    `select/ceiling  ${(select / ceiling).toFixed(2)}`,
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      serve: { type: 'string' },
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '1' },
      connections: { type: 'string', default: '50' },
      'log-level': { type: 'string', default: 'warn' },
    },
  });
  const logLevel = values['log-level'];
  if (values.serve !== undefined) return serve(values.serve, logLevel);

  const dataDir = await mkdtemp(join(tmpdir(), 'sibyl-bench-http-'));
  let child: ChildProcess | undefined;
  try {
    child = fork(new URL(import.meta.url), ['--serve', dataDir, '--log-level', logLevel]);
    const { node, ceiling } = await new Promise<Addresses>((resolve, reject) => {
      child!.once('message', (message) => resolve(message as Addresses));
      child!.once('exit', (code) => reject(new Error(`server process exited with ${code}`)));
    });
    await setUpSchema(node);
    const [connections, duration, warmup] = [values.connections, values.duration, values.warmup].map(Number);
    process.stdout.write(`${connections} connections, ${duration}s per scenario after ${warmup}s warm-up\n`);
    const measured: Measured[] = [];
    for (const scenario of [
      { name: 'ceiling echo', url: `http://${ceiling}/echo`, body: INSERT_BODY },
      { name: 'INSERT', url: `http://${node}/v1/cql`, body: INSERT_BODY },
      { name: 'SELECT by key', url: `http://${node}/v1/cql`, body: SELECT_BODY },
    ]) {
      measured.push(await measure(scenario, connections, duration, warmup));
    }
    process.stdout.write(`${report(measured)}\n`);
    if (measured.some(({ result }) => result.non2xx > 0)) {
      process.stderr.write('warning: some requests failed; their rates do not measure the CQL path\n');
      process.exitCode = 1;
    }
  } finally {
    if (child?.connected) {
      const exited = new Promise((resolve) => child!.once('exit', resolve));
      child.send('stop');
      await exited;
    }
    await rm(dataDir, { recursive: true, force: true });
  }
}

await main();
