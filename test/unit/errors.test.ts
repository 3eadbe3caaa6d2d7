import t from 'tap';
import { Unavailable, CqlSyntaxError } from '../../lib/errors.js';

t.test('Unavailable carries consistency, required and alive', async (t) => {
  const e = new Unavailable('QUORUM', 2, 1);
  t.equal(e.code, 'Unavailable');
  t.same(e.details(), { consistency: 'QUORUM', required: 2, alive: 1 });
  t.match(e.message, /required 2, alive 1/);
});

t.test('SyntaxError carries line, column and token', async (t) => {
  const e = new CqlSyntaxError('no viable alternative', 1, 8, 'FORM');
  t.same(e.details(), { line: 1, column: 8, token: 'FORM' });
});
