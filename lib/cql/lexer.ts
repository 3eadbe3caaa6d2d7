/**
 * The CQL lexer: turns statement text into tokens in one left-to-right pass over
 * character codes (no regular expressions), so its cost is linear in the input.
 *
 * Token text is normalised here once, so the parser compares plain strings:
 * - unquoted identifiers and keywords are lower-cased (keywords are just identifiers
 *   whose meaning the parser gives them); "quoted" identifiers keep their case with
 *   `""` unescaped;
 * - string literals ('…' with `''` escapes, or $$…$$) are unescaped;
 * - `true`/`false` become boolean tokens and `NaN`/`Infinity` float tokens (text
 *   'NaN'/'Infinity'), so like in Cassandra they can never be identifiers;
 * - hex blobs drop the `0x`.
 *
 * Numbers and durations are lexed unsigned: a leading `-` is its own token and the
 * parser folds it into the literal that follows in a term position. That keeps
 * `c = c -1` an update that subtracts 1, where a sign-hungry lexer would read `-1`.
 *
 * Lines and columns are 1-based; columns count UTF-16 code units from the line start.
 */
import { CqlSyntaxError } from '../errors.js';

export type TokenKind =
  | 'ident'
  | 'quoted'
  | 'string'
  | 'integer'
  | 'float'
  | 'boolean'
  | 'uuid'
  | 'hex'
  | 'duration'
  | 'punct'
  | 'eof';

export interface Token {
  kind: TokenKind;
  /** Normalised text (see the module comment); for punctuation the symbol itself. */
  text: string;
  /** Offsets of the token in the source, end exclusive: the text as written. */
  start: number;
  end: number;
  line: number;
  column: number;
}

/**
 * Cassandra 4's reserved keywords: they cannot be unquoted identifiers. Every other
 * keyword (key, type, ttl, count, json, values, text, …) only means something where
 * the grammar expects it and is an ordinary name elsewhere.
 */
const RESERVED_KEYWORDS: ReadonlySet<string> = new Set([
  'add', 'allow', 'alter', 'and', 'apply', 'asc', 'authorize', 'batch', 'begin', 'by',
  'columnfamily', 'create', 'default', 'delete', 'desc', 'describe', 'drop', 'entries',
  'execute', 'for', 'from', 'full', 'grant', 'if', 'in', 'index', 'infinity', 'insert',
  'into', 'is', 'keyspace', 'limit', 'materialized', 'mbean', 'mbeans', 'modify', 'nan',
  'norecursive', 'not', 'null', 'of', 'on', 'or', 'order', 'primary', 'rename', 'replace',
  'revoke', 'schema', 'select', 'set', 'table', 'to', 'token', 'truncate', 'unlogged',
  'unset', 'update', 'use', 'using', 'view', 'where', 'with',
]);

/** True when `word` (any case) is reserved and must be double-quoted to name something. */
export function isReservedKeyword(word: string): boolean {
  return RESERVED_KEYWORDS.has(word.toLowerCase());
}

// Character codes used by the scanner.
const TAB = 9;
const LF = 10;
const VT = 11;
const FF = 12;
const CR = 13;
const SPACE = 32;
const BANG = 33;
const DQUOTE = 34;
const DOLLAR = 36;
const SQUOTE = 39;
const STAR = 42;
const PLUS = 43;
const MINUS = 45;
const DOT = 46;
const SLASH = 47;
const DIGIT_0 = 48;
const DIGIT_9 = 57;
const LT = 60;
const EQUALS = 61;
const GT = 62;
const UNDERSCORE = 95;
const MICRO_SIGN = 0xb5; // µ
const GREEK_MU = 0x3bc; // μ

/** Single-character punctuation, indexed by char code. */
const SINGLE_PUNCT: ReadonlyMap<number, string> = new Map(
  [...'()[]{},;.:?*'].map((c) => [c.charCodeAt(0), c]),
);

function isDigit(c: number): boolean {
  return c >= DIGIT_0 && c <= DIGIT_9;
}

function isLetter(c: number): boolean {
  const lower = c | 0x20;
  return lower >= 97 && lower <= 122;
}

function isHexDigit(c: number): boolean {
  if (isDigit(c)) return true;
  const lower = c | 0x20;
  return lower >= 97 && lower <= 102;
}

function isIdentPart(c: number): boolean {
  return isLetter(c) || isDigit(c) || c === UNDERSCORE;
}

/** Lower-cased ASCII letter of `c` (for case-insensitive unit matching). */
function lowerLetter(c: number): number {
  return isLetter(c) ? c | 0x20 : c;
}

class Lexer {
  private pos = 0;
  private line = 1;
  /** Offset of the first character of the current line. */
  private lineStart = 0;
  private readonly tokens: Token[] = [];

  constructor(private readonly src: string) {}

  run(): Token[] {
    const src = this.src;
    const n = src.length;
    while (true) {
      this.skipSpaceAndComments();
      if (this.pos >= n) break;
      this.scanToken(src.charCodeAt(this.pos));
    }
    this.tokens.push({
      kind: 'eof',
      text: '<EOF>',
      start: n,
      end: n,
      line: this.line,
      column: n - this.lineStart + 1,
    });
    return this.tokens;
  }

  private fail(message: string, line: number, column: number, token: string): never {
    throw new CqlSyntaxError(`line ${line}:${column} ${message}`, line, column, token);
  }

  /** Records the line breaks inside src[from, to) (multi-line strings and comments). */
  private countLines(from: number, to: number): void {
    let i = this.src.indexOf('\n', from);
    while (i !== -1 && i < to) {
      this.line++;
      this.lineStart = i + 1;
      i = this.src.indexOf('\n', i + 1);
    }
  }

  private skipSpaceAndComments(): void {
    const src = this.src;
    const n = src.length;
    while (this.pos < n) {
      const c = src.charCodeAt(this.pos);
      if (c === LF) {
        this.pos++;
        this.line++;
        this.lineStart = this.pos;
      } else if (c === SPACE || c === TAB || c === CR || c === FF || c === VT) {
        this.pos++;
      } else if ((c === MINUS || c === SLASH) && src.charCodeAt(this.pos + 1) === c) {
        // `-- …` and `// …` run to the end of the line; the newline is handled above.
        const eol = src.indexOf('\n', this.pos + 2);
        this.pos = eol === -1 ? n : eol;
      } else if (c === SLASH && src.charCodeAt(this.pos + 1) === STAR) {
        const close = src.indexOf('*/', this.pos + 2);
        if (close === -1) {
          this.fail('unterminated comment', this.line, this.pos - this.lineStart + 1, '/*');
        }
        this.countLines(this.pos, close);
        this.pos = close + 2;
      } else {
        return;
      }
    }
  }

  private push(kind: TokenKind, text: string, start: number, end: number, line: number, column: number): void {
    this.tokens.push({ kind, text, start, end, line, column });
    this.pos = end;
  }

  private scanToken(c: number): void {
    const start = this.pos;
    const line = this.line;
    const column = start - this.lineStart + 1;
    const src = this.src;

    if (isHexDigit(c)) {
      const uuidEnd = this.uuidEnd(start);
      if (uuidEnd !== -1) {
        this.push('uuid', src.slice(start, uuidEnd).toLowerCase(), start, uuidEnd, line, column);
        return;
      }
    }
    if (isDigit(c)) {
      this.scanNumber(start, line, column);
      return;
    }
    if (isLetter(c)) {
      this.scanWord(c, start, line, column);
      return;
    }
    switch (c) {
      case SQUOTE:
        this.scanString(start, line, column);
        return;
      case DOLLAR:
        if (src.charCodeAt(start + 1) === DOLLAR) {
          const close = src.indexOf('$$', start + 2);
          if (close === -1) this.fail('unterminated string literal', line, column, '$$');
          this.push('string', src.slice(start + 2, close), start, close + 2, line, column);
          this.countLines(start, close);
          return;
        }
        break;
      case DQUOTE:
        this.scanQuotedName(start, line, column);
        return;
      case LT:
      case GT:
      case BANG:
      case PLUS:
      case MINUS:
        if (src.charCodeAt(start + 1) === EQUALS) {
          this.push('punct', src.slice(start, start + 2), start, start + 2, line, column);
          return;
        }
        if (c !== BANG) {
          this.push('punct', src[start]!, start, start + 1, line, column);
          return;
        }
        break;
      case EQUALS:
        this.push('punct', '=', start, start + 1, line, column);
        return;
      default: {
        const symbol = SINGLE_PUNCT.get(c);
        if (symbol !== undefined) {
          this.push('punct', symbol, start, start + 1, line, column);
          return;
        }
      }
    }
    const ch = String.fromCodePoint(src.codePointAt(start)!);
    this.fail(`token recognition error at: '${ch}'`, line, column, ch);
  }

  /** End offset of an unquoted 8-4-4-4-12 hex uuid starting at `i`, or -1. */
  private uuidEnd(i: number): number {
    const src = this.src;
    const end = i + 36;
    if (end > src.length) return -1;
    for (let k = 0; k < 36; k++) {
      const c = src.charCodeAt(i + k);
      if (k === 8 || k === 13 || k === 18 || k === 23) {
        if (c !== MINUS) return -1;
      } else if (!isHexDigit(c)) {
        return -1;
      }
    }
    return end < src.length && isIdentPart(src.charCodeAt(end)) ? -1 : end;
  }

  private digitsEnd(i: number): number {
    const src = this.src;
    while (isDigit(src.charCodeAt(i))) i++;
    return i;
  }

  /** Integer, float (1.5, 1., 2e10, 1.5E-3), hex blob (0x…) or duration (1h30m). */
  private scanNumber(start: number, line: number, column: number): void {
    const src = this.src;
    let i = this.digitsEnd(start);
    const next = src.charCodeAt(i);
    if (i === start + 1 && src.charCodeAt(start) === DIGIT_0 && (next | 0x20) === 0x78) {
      let j = i + 1;
      while (isHexDigit(src.charCodeAt(j))) j++;
      this.push('hex', src.slice(i + 1, j).toLowerCase(), start, j, line, column);
      return;
    }
    let isFloat = false;
    if (next === DOT) {
      isFloat = true;
      i = this.digitsEnd(i + 1);
    }
    const exponentEnd = this.exponentEnd(i);
    if (exponentEnd !== -1) {
      isFloat = true;
      i = exponentEnd;
    }
    if (!isFloat) {
      const durationEnd = this.unitDurationEnd(i);
      if (durationEnd !== -1) {
        this.push('duration', src.slice(start, durationEnd), start, durationEnd, line, column);
        return;
      }
    }
    this.push(isFloat ? 'float' : 'integer', src.slice(start, i), start, i, line, column);
  }

  /** End of `e[+-]digits` at `i`, or -1 when there is no complete exponent. */
  private exponentEnd(i: number): number {
    const src = this.src;
    if ((src.charCodeAt(i) | 0x20) !== 0x65) return -1;
    let j = i + 1;
    const sign = src.charCodeAt(j);
    if (sign === PLUS || sign === MINUS) j++;
    const end = this.digitsEnd(j);
    return end === j ? -1 : end;
  }

  /**
   * `i` is just after the leading digits of a number. When a duration unit follows,
   * returns the end of the whole `(digits unit)+` run (1h30m, 12mo3d, 5µs), else -1.
   */
  private unitDurationEnd(i: number): number {
    let unitEnd = this.unitEnd(i);
    if (unitEnd === -1) return -1;
    while (true) {
      const digitsEnd = this.digitsEnd(unitEnd);
      if (digitsEnd === unitEnd) return unitEnd;
      const nextUnitEnd = this.unitEnd(digitsEnd);
      // `1h30` ends the duration after `1h`; the parser then meets the stray `30`.
      if (nextUnitEnd === -1) return unitEnd;
      unitEnd = nextUnitEnd;
    }
  }

  /** End of a duration unit (y mo w d h m s ms us µs ns, any case) at `i`, or -1. */
  private unitEnd(i: number): number {
    const src = this.src;
    const a = lowerLetter(src.charCodeAt(i));
    const b = lowerLetter(src.charCodeAt(i + 1));
    switch (a) {
      case 0x6d: // m, mo, ms
        return b === 0x6f || b === 0x73 ? i + 2 : i + 1;
      case 0x75: // us
      case 0x6e: // ns
      case MICRO_SIGN:
      case GREEK_MU:
        return b === 0x73 ? i + 2 : -1;
      case 0x79: // y
      case 0x77: // w
      case 0x64: // d
      case 0x68: // h
      case 0x73: // s
        return i + 1;
      default:
        return -1;
    }
  }

  /** Identifier, keyword, boolean, NaN/Infinity, or an ISO-8601 duration (P1Y2M, PT1H). */
  private scanWord(c: number, start: number, line: number, column: number): void {
    const src = this.src;
    if ((c | 0x20) === 0x70) {
      const isoEnd = this.isoDurationEnd(start);
      if (isoEnd !== -1) {
        this.push('duration', src.slice(start, isoEnd), start, isoEnd, line, column);
        return;
      }
    }
    let i = start + 1;
    while (isIdentPart(src.charCodeAt(i))) i++;
    const word = src.slice(start, i).toLowerCase();
    switch (word) {
      case 'true':
      case 'false':
        this.push('boolean', word, start, i, line, column);
        return;
      case 'nan':
        this.push('float', 'NaN', start, i, line, column);
        return;
      case 'infinity':
        this.push('float', 'Infinity', start, i, line, column);
        return;
      default:
        this.push('ident', word, start, i, line, column);
    }
  }

  /**
   * End of an ISO-8601 duration starting with the `P` at `start`, or -1 when the word
   * is not one (then it is an identifier). Accepts the designator form
   * P[nY][nM][nD][T[nH][nM][nS]] (at least one part), the week form PnW and the
   * alternative form PYYYY-MM-DDThh:mm:ss.
   */
  private isoDurationEnd(start: number): number {
    const src = this.src;
    let i = start + 1;
    const end = this.isoWeekOrAlternativeEnd(i);
    if (end !== -1) return end;
    let parts = 0;
    for (const unit of [0x79, 0x6d, 0x64]) {
      const next = this.isoPartEnd(i, unit);
      if (next !== -1) {
        i = next;
        parts++;
      }
    }
    if ((src.charCodeAt(i) | 0x20) === 0x74) {
      let timeParts = 0;
      let j = i + 1;
      for (const unit of [0x68, 0x6d, 0x73]) {
        const next = this.isoPartEnd(j, unit);
        if (next !== -1) {
          j = next;
          timeParts++;
        }
      }
      if (timeParts === 0) return -1;
      i = j;
      parts += timeParts;
    }
    if (parts === 0 || isIdentPart(src.charCodeAt(i))) return -1;
    return i;
  }

  /** End of `digits unit` at `i` when the unit letter is `unit` (lower-case code), else -1. */
  private isoPartEnd(i: number, unit: number): number {
    const digitsEnd = this.digitsEnd(i);
    if (digitsEnd === i || lowerLetter(this.src.charCodeAt(digitsEnd)) !== unit) return -1;
    return digitsEnd + 1;
  }

  private isoWeekOrAlternativeEnd(i: number): number {
    const src = this.src;
    const weekEnd = this.isoPartEnd(i, 0x77);
    if (weekEnd !== -1) return isIdentPart(src.charCodeAt(weekEnd)) ? -1 : weekEnd;
    // PYYYY-MM-DDThh:mm:ss: digits at fixed places, separators in between.
    const shape = '####-##-##T##:##:##';
    if (i + shape.length > src.length) return -1;
    for (let k = 0; k < shape.length; k++) {
      const c = src.charCodeAt(i + k);
      const want = shape.charCodeAt(k);
      if (want === 0x23 ? !isDigit(c) : lowerLetter(c) !== lowerLetter(want)) return -1;
    }
    const end = i + shape.length;
    return isIdentPart(src.charCodeAt(end)) ? -1 : end;
  }

  /** '…' with '' standing for one quote; may span lines. */
  private scanString(start: number, line: number, column: number): void {
    const src = this.src;
    let text = '';
    let from = start + 1;
    while (true) {
      const close = src.indexOf("'", from);
      if (close === -1) this.fail('unterminated string literal', line, column, "'");
      text += src.slice(from, close);
      if (src.charCodeAt(close + 1) === SQUOTE) {
        text += "'";
        from = close + 2;
        continue;
      }
      this.push('string', text, start, close + 1, line, column);
      this.countLines(start, close);
      return;
    }
  }

  /** "…" with "" standing for one double quote; case is kept. */
  private scanQuotedName(start: number, line: number, column: number): void {
    const src = this.src;
    let text = '';
    let from = start + 1;
    while (true) {
      const close = src.indexOf('"', from);
      if (close === -1) this.fail('unterminated quoted identifier', line, column, '"');
      text += src.slice(from, close);
      if (src.charCodeAt(close + 1) === DQUOTE) {
        text += '"';
        from = close + 2;
        continue;
      }
      if (text === '') this.fail('empty quoted identifier', line, column, '""');
      this.push('quoted', text, start, close + 1, line, column);
      this.countLines(start, close);
      return;
    }
  }
}

/** Splits CQL text into tokens, ending with one 'eof' token. Throws CqlSyntaxError. */
export function tokenize(text: string): Token[] {
  return new Lexer(text).run();
}
