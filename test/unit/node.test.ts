import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { loadConfig, type NodeConfig } from '../../lib/config.js';
import type { CqlRequest } from '../../lib/cql/request.js';
import { ManualClock } from '../../lib/model/clock.js';
import { type CqlServiceFactory, type NodeContext, SibylNode } from '../../lib/node.js';

async function tempConfig(t: Test, flags: Partial<NodeConfig> = {}): Promise<NodeConfig> {
  const dir = await mkdtemp(join(tmpdir(), 'sibyl-node-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return loadConfig({ flags: { dataDir: join(dir, 'data'), httpAddress: '127.0.0.1', httpPort: 0, ...flags } });
}

/** A factory that records what it was built from and whether it was closed. */
function recordingFactory() {
  const record = { context: undefined as NodeContext | undefined, closed: 0, requests: [] as CqlRequest[] };
  const factory: CqlServiceFactory = async (context) => {
    record.context = context;
    return {
      service: {
        execute: async (request) => {
          record.requests.push(request);
          return { kind: 'void' };
        },
      },
      close: async () => void record.closed++,
    };
  };
  return { record, factory };
}

t.test('a node serves CQL over HTTP on the port it bound, and stop() closes the service', async (t) => {
  const config = await tempConfig(t);
  const clock = new ManualClock();
  const { record, factory } = recordingFactory();
  const node = await SibylNode.start(config, { clock, logger: false, cqlFactory: factory });
  t.match(node.httpAddress, /^127\.0\.0\.1:\d+$/);
  t.not(node.httpAddress, '127.0.0.1:0', 'port 0 reports the real port');
  t.equal(record.context?.clock, clock, 'the injected clock reaches the pieces');
  t.equal(record.context?.config, config);
  t.ok((await stat(config.dataDir)).isDirectory(), 'the data directory is created');

  const health = await fetch(`http://${node.httpAddress}/health`);
  t.same(await health.json(), { status: 'ok' });
  const response = await fetch(`http://${node.httpAddress}/v1/cql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: 'INSERT', consistency: 'ONE' }),
  });
  t.same(await response.json(), { kind: 'void' });
  t.same(record.requests, [{ query: 'INSERT', consistency: 'ONE' }]);

  await Promise.all([node.stop(), node.stop()]);
  await node.stop();
  t.equal(record.closed, 1, 'the CQL service is closed once');
  await t.rejects(fetch(`http://${node.httpAddress}/health`), 'the HTTP server is closed');
  await t.rejects(node.execute({ query: 'SELECT' }), { code: 'Overloaded' }, 'a stopped node refuses work');
});

t.test('a node that cannot bind its port releases what it built and throws', async (t) => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  const port = (blocker.address() as { port: number }).port;
  const config = await tempConfig(t, { httpPort: port });
  const { record, factory } = recordingFactory();
  await t.rejects(SibylNode.start(config, { logger: false, cqlFactory: factory }), { code: 'EADDRINUSE' });
  t.equal(record.closed, 1);
});
