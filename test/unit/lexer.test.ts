import t from 'tap';
import fc from 'fast-check';
import { CqlSyntaxError } from '../../lib/errors.js';
import { isReservedKeyword, tokenize, type Token } from '../../lib/cql/lexer.js';
import { propertyHolds } from '../helpers/property.js';

/** [kind, text] of every token but the final EOF. */
function kinds(text: string): [string, string][] {
  const tokens = tokenize(text);
  return tokens.slice(0, -1).map((token) => [token.kind, token.text]);
}

function syntaxErrorOf(run: () => unknown): CqlSyntaxError {
  try {
    run();
  } catch (error) {
    if (error instanceof CqlSyntaxError) return error;
    throw error;
  }
  throw new Error('expected a CqlSyntaxError');
}

function only(text: string): Token {
  const tokens = tokenize(text);
  if (tokens.length !== 2) throw new Error(`expected one token in ${text}, got ${tokens.length - 1}`);
  return tokens[0]!;
}

t.test('unquoted identifiers and keywords are lower-cased, quoted ones kept exactly', async (t) => {
  t.same(kinds('SeLeCt MyCol "MyCol" "a""b" x_1'), [
    ['ident', 'select'],
    ['ident', 'mycol'],
    ['quoted', 'MyCol'],
    ['quoted', 'a"b'],
    ['ident', 'x_1'],
  ]);
});

t.test('string literals unescape doubled quotes and $$ strings are taken verbatim', async (t) => {
  t.same(kinds(`'it''s' '' $$a'b$c$$ $$$$`), [
    ['string', "it's"],
    ['string', ''],
    ['string', "a'b$c"],
    ['string', ''],
  ]);
});

t.test('numbers: integers, floats with fractions and exponents, NaN and Infinity in any case', async (t) => {
  t.same(kinds('0 42 1.5 1. 2e10 1.5E-3 3e+2 nan INFINITY'), [
    ['integer', '0'],
    ['integer', '42'],
    ['float', '1.5'],
    ['float', '1.'],
    ['float', '2e10'],
    ['float', '1.5E-3'],
    ['float', '3e+2'],
    ['float', 'NaN'],
    ['float', 'Infinity'],
  ]);
});

t.test('a minus sign is its own token so the parser decides between sign and subtraction', async (t) => {
  t.same(kinds('-5 c -1 -= +='), [
    ['punct', '-'],
    ['integer', '5'],
    ['ident', 'c'],
    ['punct', '-'],
    ['integer', '1'],
    ['punct', '-='],
    ['punct', '+='],
  ]);
});

t.test('booleans, uuids and hex blobs have their own kinds', async (t) => {
  t.same(kinds('TRUE false 0xCAFE 0x 123e4567-E89B-12d3-a456-426614174000 a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'), [
    ['boolean', 'true'],
    ['boolean', 'false'],
    ['hex', 'cafe'],
    ['hex', ''],
    ['uuid', '123e4567-e89b-12d3-a456-426614174000'],
    ['uuid', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'],
  ]);
});

t.test('a hex word that is not a full uuid stays an identifier or a number', async (t) => {
  t.same(kinds('abc a0eebc99-9c0b'), [
    ['ident', 'abc'],
    ['ident', 'a0eebc99'],
    ['punct', '-'],
    ['integer', '9'],
    ['ident', 'c0b'],
  ]);
  // One character too many: not a uuid, so it falls apart into smaller tokens.
  const tokens = kinds('123e4567-e89b-12d3-a456-426614174000x');
  t.same(tokens[0], ['float', '123e4567']);
  t.notOk(tokens.some(([kind]) => kind === 'uuid'));
});

t.test('durations: unit form and ISO-8601 forms', async (t) => {
  for (const text of ['1h30m', '12mo3d', '1y', '2w', '5ms', '7us', '7µs', '9ns', '1h1m1s1ms1us1ns', 'P1Y2M', 'PT1H', 'P1Y2M3DT4H5M6S', 'P3W', 'P0001-02-03T04:05:06', 'p1d']) {
    const token = only(text);
    t.equal(token.kind, 'duration', text);
    t.equal(token.text, text, text);
  }
});

t.test('words starting with P are identifiers unless they are complete ISO durations', async (t) => {
  for (const text of ['p', 'pt', 'p1', 'primary', 'partition', 'p1y2', 'pt1hx', 'per']) {
    t.equal(only(text).kind, 'ident', text);
  }
});

t.test('punctuation and operators', async (t) => {
  const symbols = '( ) [ ] { } , ; . : ? = < <= > >= != + - += -= *'.split(' ');
  t.same(
    kinds(symbols.join(' ')).map(([, text]) => text),
    symbols,
  );
  t.same(kinds('map<int,list<int>>').map(([, text]) => text), ['map', '<', 'int', ',', 'list', '<', 'int', '>', '>']);
});

t.test('comments of the three kinds are skipped and lines still counted', async (t) => {
  const tokens = tokenize('a -- one\n// two\n/* three\nfour */ b /**/c');
  t.same(
    tokens.map((token) => [token.text, token.line, token.column]),
    [
      ['a', 1, 1],
      ['b', 4, 9],
      ['c', 4, 15],
      ['<EOF>', 4, 16],
    ],
  );
});

t.test('line and column are 1-based and follow multi-line strings', async (t) => {
  const tokens = tokenize("x\n  'a\nbc' y\r\n\tz");
  t.same(
    tokens.map((token) => [token.kind, token.line, token.column]),
    [
      ['ident', 1, 1],
      ['string', 2, 3],
      ['ident', 3, 5],
      ['ident', 4, 2],
      ['eof', 4, 3],
    ],
  );
  t.same([tokens[1]!.start, tokens[1]!.end], [4, 10]);
});

t.test('unterminated strings, names and comments fail at their start', async (t) => {
  const cases: [string, number, number, string, RegExp][] = [
    ["a 'abc", 1, 3, "'", /unterminated string/],
    ['a\n  $$abc$', 2, 3, '$$', /unterminated string/],
    ['a "abc', 1, 3, '"', /unterminated quoted identifier/],
    ['a\n /* x * /', 2, 2, '/*', /unterminated comment/],
    ['a ""', 1, 3, '""', /empty quoted identifier/],
    ['a # b', 1, 3, '#', /token recognition error at: '#'/],
    ['a $b', 1, 3, '$', /token recognition error/],
    ['a ! b', 1, 3, '!', /token recognition error/],
  ];
  for (const [text, line, column, token, message] of cases) {
    const error = syntaxErrorOf(() => tokenize(text));
    t.same([error.line, error.column, error.token], [line, column, token], text);
    t.match(error.message, message, text);
    t.match(error.message, new RegExp(`^line ${line}:${column} `), text);
  }
});

t.test('reserved keywords are Cassandra 4 reserved ones; common column words are not', async (t) => {
  for (const word of ['SELECT', 'from', 'Where', 'and', 'keyspace', 'table', 'token', 'null', 'primary', 'limit']) {
    t.ok(isReservedKeyword(word), word);
  }
  for (const word of ['key', 'value', 'ttl', 'timestamp', 'date', 'time', 'text', 'type', 'count', 'json', 'values', 'writetime', 'static', 'list', 'map', 'keyspaces']) {
    t.notOk(isReservedKeyword(word), word);
  }
});

t.test('any string survives quoting with doubled quotes', async (t) => {
  propertyHolds(t, fc.check(
    fc.property(fc.string({ unit: 'binary' }), (value) => {
      const token = only(`'${value.replaceAll("'", "''")}'`);
      return token.kind === 'string' && token.text === value;
    }),
    { numRuns: 300 },
  ), 'the property holds');
});

t.test('any non-empty name survives double-quoting', async (t) => {
  propertyHolds(t, fc.check(
    fc.property(fc.string({ minLength: 1 }), (name) => {
      const token = only(`"${name.replaceAll('"', '""')}"`);
      return token.kind === 'quoted' && token.text === name;
    }),
    { numRuns: 300 },
  ), 'the property holds');
});

t.test('arbitrary input either tokenizes or fails with a CqlSyntaxError', async (t) => {
  const alphabet = fc.constantFrom(...`ab1e9'"$-/*()<>=!?:.,;{}[] \nPTh0x`.split(''));
  propertyHolds(t, fc.check(
    fc.property(fc.array(alphabet, { maxLength: 40 }), (chars) => {
      try {
        const tokens = tokenize(chars.join(''));
        return tokens.at(-1)!.kind === 'eof';
      } catch (error) {
        return error instanceof CqlSyntaxError && error.line >= 1 && error.column >= 1;
      }
    }),
    { numRuns: 1000 },
  ), 'the property holds');
});

t.test('lexing is linear: megabytes of strings and comments take milliseconds', async (t) => {
  const text = `'${"x''y".repeat(100_000)}' $$${'z'.repeat(1_000_000)}$$ /*${'\n'.repeat(50_000)}*/ ${'a '.repeat(100_000)}`;
  const started = process.hrtime.bigint();
  const tokens = tokenize(text);
  const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
  t.equal(tokens.length, 100_003);
  t.equal(tokens.at(-1)!.line, 50_001);
  t.ok(elapsedMs < 1000, `took ${elapsedMs} ms`);
});
