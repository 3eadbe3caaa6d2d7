import t from 'tap';
import { decodeMutation, encodeMutation } from '../../lib/storage/mutation-codec.js';
import type { PartitionUpdate } from '../../lib/model/partition.js';
import { murmur3Token } from '../../lib/model/token.js';

t.test('a mutation survives encoding: cells, collections, tombstones of every kind', async (t) => {
  const key = Buffer.from('key1');
  const update: PartitionUpdate = {
    tableId: '5a1c2a1e-0000-4000-8000-000000000001',
    partition: {
      key,
      token: murmur3Token(key),
      deletion: { markedForDeleteAt: 1_700_000_000_000_000, localDeletionTime: 1_700_000_000 },
      staticRow: {
        clustering: [],
        liveness: null,
        deletion: null,
        cells: new Map([['s', { timestamp: 5, value: Buffer.from('static'), ttl: 0, localDeletionTime: 0x7fffffff }]]),
        complex: new Map(),
      },
      rangeTombstones: [
        {
          start: { prefix: [Buffer.from([1])], inclusive: true },
          end: { prefix: [Buffer.from([3])], inclusive: false },
          deletion: { markedForDeleteAt: 9, localDeletionTime: 10 },
        },
      ],
      rows: [
        {
          clustering: [Buffer.from([2]), Buffer.from('b')],
          liveness: { timestamp: 7, ttl: 60, localDeletionTime: 1060 },
          deletion: { markedForDeleteAt: 3, localDeletionTime: 4 },
          cells: new Map([
            ['v', { timestamp: 7, value: Buffer.from('value'), ttl: 60, localDeletionTime: 1060 }],
            ['gone', { timestamp: 8, value: null, ttl: 0, localDeletionTime: 1000 }],
            ['empty', { timestamp: 8, value: Buffer.alloc(0), ttl: 0, localDeletionTime: 0x7fffffff }],
          ]),
          complex: new Map([
            [
              'm',
              {
                deletion: { markedForDeleteAt: 6, localDeletionTime: 1000 },
                cells: [
                  { timestamp: 7, value: Buffer.from('x'), ttl: 0, localDeletionTime: 0x7fffffff, path: Buffer.from('k1') },
                  { timestamp: 7, value: null, ttl: 0, localDeletionTime: 1000, path: Buffer.alloc(0) },
                ],
              },
            ],
          ]),
        },
      ],
    },
  };
  const [decoded] = decodeMutation(encodeMutation([update]));
  t.same(decoded, update);
  t.equal(decoded.partition.token, update.partition.token);
});

t.test('garbage does not decode into a mutation silently', async (t) => {
  t.throws(() => decodeMutation(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f])));
});
