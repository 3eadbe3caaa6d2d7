/**
 * The CQL parser: a hand-written recursive-descent parser over the lexer's tokens that
 * builds the AST of ./ast.ts. It follows Cassandra 4's grammar for the statements
 * sibyl supports; nothing is resolved against the schema here.
 *
 * Choices made here (the AST leaves them open):
 * - Collection and tuple literals always become Term collections ('list', 'set', 'map',
 *   'tuple') whose leaves are Terms, even when every item is a literal; only `{}` is a
 *   literal ('emptyBraces'), because only the receiver can tell a set from a map.
 * - A `-` before a number or duration in a term position is folded into the literal
 *   ('-5', '-1.5e3', '-Infinity', '-1h'); before a marker, call, cast or parenthesised
 *   term it is 'negate'; before any other literal it is an error.
 * - `?` and `:name` may be mixed; every occurrence is its own marker, indexed from 0 in
 *   order of appearance (a repeated `:name` gets one entry per occurrence).
 * - Structural mistakes Cassandra reports at parse time are CqlSyntaxErrors here too:
 *   two PRIMARY KEY declarations, a property given twice, `c = d + 1`.
 *
 * Every error is a CqlSyntaxError whose message starts with `line L:C` (1-based) and
 * names the offending token as written, '<EOF>' at the end of the input.
 */
import { CqlSyntaxError } from '../errors.js';
import type { Literal, TypeSpec } from '../schema/type.js';
import type {
  Assignment,
  Batch,
  ColumnDefinition,
  CompareOp,
  Condition,
  CreateTable,
  Delete,
  DeleteTarget,
  Insert,
  ModificationStatement,
  ParsedStatement,
  Properties,
  PropertyValue,
  QualifiedName,
  Relation,
  Select,
  SelectItem,
  Selector,
  Statement,
  Term,
  Update,
  Using,
} from './ast.js';
import { isReservedKeyword, tokenize, type Token } from './lexer.js';

type Ordering = { column: string; order: 'ASC' | 'DESC' };

const COMPARE_OPS: ReadonlySet<string> = new Set(['=', '<', '<=', '>', '>=', '!=']);

/** Sets `key` as an own property even when it is "__proto__" (keys come from user text). */
function defineKey<V>(target: Record<string, V>, key: string, value: V): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function literal(value: Literal): Term {
  return { kind: 'literal', value };
}

class Parser {
  private pos = 0;
  /** Markers of the statement being parsed, in order of appearance. */
  markers: { name: string | null }[] = [];

  constructor(
    private readonly src: string,
    private readonly tokens: Token[],
  ) {}

  // ---- token access and errors ------------------------------------------------------

  peek(offset = 0): Token {
    const i = this.pos + offset;
    return this.tokens[i < this.tokens.length ? i : this.tokens.length - 1]!;
  }

  private advance(): Token {
    const token = this.tokens[this.pos]!;
    if (token.kind !== 'eof') this.pos++;
    return token;
  }

  atEnd(): boolean {
    return this.peek().kind === 'eof';
  }

  private raw(token: Token): string {
    return token.kind === 'eof' ? '<EOF>' : this.src.slice(token.start, token.end);
  }

  error(token: Token, message: string): CqlSyntaxError {
    return new CqlSyntaxError(`line ${token.line}:${token.column} ${message}`, token.line, token.column, this.raw(token));
  }

  noViable(token: Token = this.peek()): CqlSyntaxError {
    return this.error(token, `no viable alternative at input '${this.raw(token)}'`);
  }

  mismatched(expected: string, token: Token = this.peek()): CqlSyntaxError {
    return this.error(token, `mismatched input '${this.raw(token)}' expecting ${expected}`);
  }

  private isKeyword(keyword: string, offset = 0): boolean {
    const token = this.peek(offset);
    return token.kind === 'ident' && token.text === keyword;
  }

  private acceptKeyword(keyword: string): boolean {
    if (!this.isKeyword(keyword)) return false;
    this.pos++;
    return true;
  }

  private expectKeyword(keyword: string): void {
    if (!this.acceptKeyword(keyword)) throw this.mismatched(`K_${keyword.toUpperCase()}`);
  }

  private isPunct(symbol: string, offset = 0): boolean {
    const token = this.peek(offset);
    return token.kind === 'punct' && token.text === symbol;
  }

  acceptPunct(symbol: string): boolean {
    if (!this.isPunct(symbol)) return false;
    this.pos++;
    return true;
  }

  private expectPunct(symbol: string): void {
    if (!this.acceptPunct(symbol)) throw this.mismatched(`'${symbol}'`);
  }

  /** True when the token at `offset` can name something: quoted, or not reserved. */
  private isIdentifier(offset = 0): boolean {
    const token = this.peek(offset);
    return token.kind === 'quoted' || (token.kind === 'ident' && !isReservedKeyword(token.text));
  }

  private identifier(): string {
    if (!this.isIdentifier()) throw this.noViable();
    return this.advance().text;
  }

  private identifierList(): string[] {
    const names = [this.identifier()];
    while (this.acceptPunct(',')) names.push(this.identifier());
    return names;
  }

  private qualifiedName(): QualifiedName {
    const first = this.identifier();
    if (!this.acceptPunct('.')) return { keyspace: null, name: first };
    return { keyspace: first, name: this.identifier() };
  }

  // ---- statements ---------------------------------------------------------------------

  statement(): Statement {
    const token = this.peek();
    if (token.kind === 'ident') {
      switch (token.text) {
        case 'select':
          return this.select();
        case 'insert':
          return this.insert();
        case 'update':
          return this.update();
        case 'delete':
          return this.delete();
        case 'begin':
          return this.batch();
        case 'create':
          return this.create();
        case 'alter':
          return this.alter();
        case 'drop':
          return this.drop();
        case 'truncate':
          this.pos++;
          if (this.isKeyword('table') || this.isKeyword('columnfamily')) this.pos++;
          return { kind: 'truncate', table: this.qualifiedName() };
        case 'use':
          this.pos++;
          return { kind: 'use', keyspace: this.identifier() };
      }
    }
    throw this.noViable(token);
  }

  private isKeyspaceWord(): boolean {
    return this.isKeyword('keyspace') || this.isKeyword('schema');
  }

  private isTableWord(): boolean {
    return this.isKeyword('table') || this.isKeyword('columnfamily');
  }

  private ifNotExists(): boolean {
    if (!this.acceptKeyword('if')) return false;
    this.expectKeyword('not');
    this.expectKeyword('exists');
    return true;
  }

  private ifExists(): boolean {
    if (!this.acceptKeyword('if')) return false;
    this.expectKeyword('exists');
    return true;
  }

  private create(): Statement {
    this.pos++;
    if (this.isKeyspaceWord()) {
      this.pos++;
      const ifNotExists = this.ifNotExists();
      const name = this.identifier();
      this.expectKeyword('with');
      return { kind: 'createKeyspace', name, ifNotExists, properties: this.properties() };
    }
    if (this.isTableWord()) {
      this.pos++;
      return this.createTable();
    }
    throw this.noViable();
  }

  private createTable(): CreateTable {
    const ifNotExists = this.ifNotExists();
    const table = this.qualifiedName();
    const statement: CreateTable = {
      kind: 'createTable',
      table,
      ifNotExists,
      columns: [],
      partitionKey: [],
      clusteringKey: [],
      clusteringOrder: [],
      properties: {},
      compactStorage: false,
    };
    let primaryKeySeen = false;
    const primaryKeyOnce = (): void => {
      if (primaryKeySeen) throw this.error(this.peek(), 'Multiple PRIMARY KEYs specified (exactly one required)');
      primaryKeySeen = true;
    };
    this.expectPunct('(');
    do {
      // Cassandra accepts a trailing comma before the closing parenthesis.
      if (statement.columns.length > 0 && this.isPunct(')')) break;
      if (this.isKeyword('primary')) {
        primaryKeyOnce();
        this.pos++;
        this.expectKeyword('key');
        this.primaryKeyClause(statement);
        continue;
      }
      const column = this.columnDefinition();
      statement.columns.push(column);
      if (this.isKeyword('primary')) {
        primaryKeyOnce();
        this.pos++;
        this.expectKeyword('key');
        statement.partitionKey = [column.name];
      }
    } while (this.acceptPunct(','));
    this.expectPunct(')');
    if (this.acceptKeyword('with')) {
      do {
        if (this.isKeyword('clustering') && this.isKeyword('order', 1)) {
          this.pos += 2;
          this.expectKeyword('by');
          this.expectPunct('(');
          do statement.clusteringOrder.push(this.ordering(true));
          while (this.acceptPunct(','));
          this.expectPunct(')');
        } else if (this.isKeyword('compact') && this.isKeyword('storage', 1)) {
          this.pos += 2;
          statement.compactStorage = true;
        } else {
          this.property(statement.properties);
        }
      } while (this.acceptKeyword('and'));
    }
    return statement;
  }

  /** After PRIMARY KEY: `(a, c)` or `((a, b), c, d)`. */
  private primaryKeyClause(statement: CreateTable): void {
    this.expectPunct('(');
    if (this.acceptPunct('(')) {
      statement.partitionKey = this.identifierList();
      this.expectPunct(')');
    } else {
      statement.partitionKey = [this.identifier()];
    }
    while (this.acceptPunct(',')) statement.clusteringKey.push(this.identifier());
    this.expectPunct(')');
  }

  private columnDefinition(): ColumnDefinition {
    const name = this.identifier();
    const type = this.typeSpec();
    return { name, type, isStatic: this.acceptKeyword('static') };
  }

  /** `c ASC` / `c DESC`; the direction is mandatory in CLUSTERING ORDER BY. */
  private ordering(directionRequired: boolean): Ordering {
    const column = this.identifier();
    if (this.acceptKeyword('asc')) return { column, order: 'ASC' };
    if (this.acceptKeyword('desc')) return { column, order: 'DESC' };
    if (directionRequired) throw this.noViable();
    return { column, order: 'ASC' };
  }

  private alter(): Statement {
    this.pos++;
    if (this.isKeyspaceWord()) {
      this.pos++;
      const name = this.identifier();
      this.expectKeyword('with');
      return { kind: 'alterKeyspace', name, properties: this.properties() };
    }
    if (!this.isTableWord()) throw this.noViable();
    this.pos++;
    const table = this.qualifiedName();
    const token = this.peek();
    if (token.kind === 'ident') {
      switch (token.text) {
        case 'add': {
          this.pos++;
          const columns: ColumnDefinition[] = [];
          if (this.acceptPunct('(')) {
            do columns.push(this.columnDefinition());
            while (this.acceptPunct(','));
            this.expectPunct(')');
          } else {
            columns.push(this.columnDefinition());
          }
          return { kind: 'alterTable', table, action: { kind: 'add', columns } };
        }
        case 'drop': {
          this.pos++;
          let columns: string[];
          if (this.acceptPunct('(')) {
            columns = this.identifierList();
            this.expectPunct(')');
          } else {
            columns = [this.identifier()];
          }
          return { kind: 'alterTable', table, action: { kind: 'drop', columns } };
        }
        case 'with':
          this.pos++;
          return { kind: 'alterTable', table, action: { kind: 'with', properties: this.properties() } };
        case 'rename': {
          this.pos++;
          const renames: [string, string][] = [];
          do {
            const from = this.identifier();
            this.expectKeyword('to');
            renames.push([from, this.identifier()]);
          } while (this.acceptKeyword('and'));
          return { kind: 'alterTable', table, action: { kind: 'rename', renames } };
        }
        case 'alter': {
          this.pos++;
          const column = this.identifier();
          this.expectKeyword('type');
          return { kind: 'alterTable', table, action: { kind: 'alterType', column, type: this.typeSpec() } };
        }
      }
    }
    throw this.noViable(token);
  }

  private drop(): Statement {
    this.pos++;
    if (this.isKeyspaceWord()) {
      this.pos++;
      const ifExists = this.ifExists();
      return { kind: 'dropKeyspace', name: this.identifier(), ifExists };
    }
    if (this.isTableWord()) {
      this.pos++;
      const ifExists = this.ifExists();
      return { kind: 'dropTable', table: this.qualifiedName(), ifExists };
    }
    throw this.noViable();
  }

  // ---- properties (WITH …) ------------------------------------------------------------

  private properties(): Properties {
    const properties: Properties = {};
    do this.property(properties);
    while (this.acceptKeyword('and'));
    return properties;
  }

  private property(properties: Properties): void {
    const keyToken = this.peek();
    const key = this.identifier().toLowerCase();
    if (Object.hasOwn(properties, key)) {
      throw this.error(keyToken, `Multiple definition for property '${key}'`);
    }
    this.expectPunct('=');
    defineKey(properties, key, this.isPunct('{') ? this.propertyMap() : this.propertyValue());
  }

  /** A constant, or an unreserved keyword taken as its text (`caching = ALL`). */
  private propertyValue(): string | number | boolean {
    const negative = this.isPunct('-');
    const token = negative ? this.peek(1) : this.peek();
    switch (token.kind) {
      case 'integer':
      case 'float':
        if (negative) this.pos++;
        this.pos++;
        return negative ? -Number(token.text) : Number(token.text);
      case 'string':
      case 'ident':
        if (negative || (token.kind === 'ident' && isReservedKeyword(token.text))) break;
        this.pos++;
        return token.text;
      case 'boolean':
        if (negative) break;
        this.pos++;
        return token.text === 'true';
    }
    throw this.noViable(token);
  }

  private propertyMap(): PropertyValue {
    this.pos++; // '{'
    const map: { [key: string]: string | number | boolean } = {};
    if (this.acceptPunct('}')) return map;
    do {
      const keyToken = this.peek();
      const key = String(this.propertyValue());
      if (Object.hasOwn(map, key)) throw this.error(keyToken, `Multiple definition for property '${key}'`);
      this.expectPunct(':');
      defineKey(map, key, this.propertyValue());
    } while (this.acceptPunct(','));
    this.expectPunct('}');
    return map;
  }

  // ---- types ----------------------------------------------------------------------------

  typeSpec(): TypeSpec {
    const token = this.peek();
    if (token.kind === 'quoted') {
      this.pos++;
      return { name: token.text, params: [] };
    }
    if (token.kind !== 'ident') throw this.noViable(token);
    const name = token.text;
    switch (name) {
      // `set` is a reserved word but still names its collection type.
      case 'list':
      case 'set':
      case 'frozen':
        this.pos++;
        return { name, params: this.typeParams(1) };
      case 'map':
        this.pos++;
        return { name, params: this.typeParams(2) };
      case 'tuple':
        this.pos++;
        return { name, params: this.typeParams('variadic') };
    }
    if (isReservedKeyword(name)) throw this.noViable(token);
    this.pos++;
    // A user-defined type, possibly keyspace-qualified; the schema layer resolves it.
    if (this.acceptPunct('.')) return { name: `${name}.${this.identifier()}`, params: [] };
    return { name, params: [] };
  }

  /** `<t, …>` with exactly `arity` types, or one or more for tuples. */
  private typeParams(arity: number | 'variadic'): TypeSpec[] {
    this.expectPunct('<');
    const params = [this.typeSpec()];
    if (arity === 'variadic') {
      while (this.acceptPunct(',')) params.push(this.typeSpec());
    } else {
      while (params.length < arity) {
        this.expectPunct(',');
        params.push(this.typeSpec());
      }
    }
    this.expectPunct('>');
    return params;
  }

  // ---- terms ----------------------------------------------------------------------------

  private marker(name: string | null): Term {
    this.markers.push({ name });
    return { kind: 'bind', index: this.markers.length - 1, name };
  }

  private isMarkerStart(): boolean {
    return this.isPunct('?') || this.isPunct(':');
  }

  /** `?` or `:name`; the caller has checked isMarkerStart(). */
  private markerTerm(): Term {
    if (this.advance().text === '?') return this.marker(null);
    return this.marker(this.identifier());
  }

  term(): Term {
    const token = this.peek();
    switch (token.kind) {
      case 'string':
        this.pos++;
        return literal({ kind: 'string', text: token.text });
      case 'integer':
      case 'float':
      case 'uuid':
      case 'hex':
      case 'duration':
        this.pos++;
        return literal({ kind: token.kind, text: token.text });
      case 'boolean':
        this.pos++;
        return literal({ kind: 'boolean', value: token.text === 'true' });
      case 'ident':
        if (token.text === 'null') {
          this.pos++;
          return literal({ kind: 'null' });
        }
        return this.functionCall();
      case 'quoted':
        return this.functionCall();
      case 'punct':
        switch (token.text) {
          case '?':
          case ':':
            return this.markerTerm();
          case '-':
            return this.negative();
          case '[':
            return this.listTerm();
          case '{':
            return this.bracesTerm();
          case '(':
            return this.parenthesisedTerm();
        }
    }
    throw this.noViable(token);
  }

  private negative(): Term {
    this.pos++;
    const token = this.peek();
    if (token.kind === 'integer' || token.kind === 'float' || token.kind === 'duration') {
      this.pos++;
      return literal({ kind: token.kind, text: token.text === 'NaN' ? 'NaN' : `-${token.text}` });
    }
    // Only markers, calls, casts and parenthesised terms can be negated; `-'x'` cannot.
    if (token.kind !== 'punct' && token.kind !== 'ident' && token.kind !== 'quoted') throw this.noViable(token);
    return { kind: 'negate', term: this.term() };
  }

  /** True at `name(` or `ks.name(`: a function call rather than a column name. */
  private isFunctionCall(): boolean {
    if (this.isPunct('(', 1)) return true;
    return this.isPunct('.', 1) && this.isIdentifier(2) && this.isPunct('(', 3);
  }

  /** The name of a function call; `token` is reserved but still names its function. */
  private functionName(): string {
    const token = this.peek();
    if (!this.isFunctionCall() || (token.kind === 'ident' && isReservedKeyword(token.text) && token.text !== 'token')) {
      throw this.noViable(token);
    }
    this.pos++;
    if (this.acceptPunct('.')) return `${token.text}.${this.identifier()}`;
    return token.text;
  }

  private functionCall(): Term {
    const name = this.functionName();
    this.expectPunct('(');
    const args: Term[] = [];
    if (!this.acceptPunct(')')) {
      do args.push(this.term());
      while (this.acceptPunct(','));
      this.expectPunct(')');
    }
    return { kind: 'function', name, args };
  }

  private listTerm(): Term {
    this.pos++; // '['
    const items: Term[] = [];
    if (!this.acceptPunct(']')) {
      do items.push(this.term());
      while (this.acceptPunct(','));
      this.expectPunct(']');
    }
    return { kind: 'list', items };
  }

  /** `{}`, a set `{a, b}` or a map `{k: v, …}`, told apart by the ':' after the first item. */
  private bracesTerm(): Term {
    this.pos++; // '{'
    if (this.acceptPunct('}')) return literal({ kind: 'emptyBraces' });
    const first = this.term();
    if (this.acceptPunct(':')) {
      const entries: [Term, Term][] = [[first, this.term()]];
      while (this.acceptPunct(',')) {
        const key = this.term();
        this.expectPunct(':');
        entries.push([key, this.term()]);
      }
      this.expectPunct('}');
      return { kind: 'map', entries };
    }
    const items = [first];
    while (this.acceptPunct(',')) items.push(this.term());
    this.expectPunct('}');
    return { kind: 'set', items };
  }

  /** `(type) term` when a type name is followed by ')' or '<'; otherwise a tuple. */
  private parenthesisedTerm(): Term {
    const next = this.peek(1);
    if ((next.kind === 'ident' || next.kind === 'quoted') && (this.isPunct(')', 2) || this.isPunct('<', 2))) {
      this.pos++;
      const type = this.typeSpec();
      this.expectPunct(')');
      return { kind: 'cast', type, term: this.term() };
    }
    this.pos++;
    const items = [this.term()];
    while (this.acceptPunct(',')) items.push(this.term());
    this.expectPunct(')');
    return { kind: 'tuple', items };
  }

  /** LIMIT, TTL and TIMESTAMP values: an integer or a bind marker. */
  private intValue(): Term {
    if (this.isMarkerStart()) return this.markerTerm();
    const negative = this.isPunct('-');
    const token = this.peek(negative ? 1 : 0);
    if (token.kind !== 'integer') throw this.noViable(token);
    this.pos += negative ? 2 : 1;
    return literal({ kind: 'integer', text: negative ? `-${token.text}` : token.text });
  }

  // ---- modification statements ----------------------------------------------------------

  private using(allowTtl: boolean): Using {
    const using: Using = { ttl: null, timestamp: null };
    do {
      const token = this.peek();
      if (allowTtl && this.isKeyword('ttl')) {
        if (using.ttl !== null) throw this.error(token, 'Multiple definition for TTL');
        this.pos++;
        using.ttl = this.intValue();
      } else if (this.isKeyword('timestamp')) {
        if (using.timestamp !== null) throw this.error(token, 'Multiple definition for TIMESTAMP');
        this.pos++;
        using.timestamp = this.intValue();
      } else {
        throw allowTtl ? this.noViable(token) : this.mismatched('K_TIMESTAMP', token);
      }
    } while (this.acceptKeyword('and'));
    return using;
  }

  private optionalUsing(allowTtl: boolean): Using {
    return this.acceptKeyword('using') ? this.using(allowTtl) : { ttl: null, timestamp: null };
  }

  private insert(): Insert {
    this.pos++;
    this.expectKeyword('into');
    const table = this.qualifiedName();
    const statement: Insert = {
      kind: 'insert',
      table,
      columns: [],
      values: [],
      json: null,
      ifNotExists: false,
      using: { ttl: null, timestamp: null },
    };
    if (this.acceptKeyword('json')) {
      if (this.isMarkerStart()) {
        statement.json = this.markerTerm();
      } else if (this.peek().kind === 'string') {
        statement.json = literal({ kind: 'string', text: this.advance().text });
      } else {
        throw this.noViable();
      }
      statement.jsonDefault = 'NULL';
      if (this.acceptKeyword('default')) {
        if (this.acceptKeyword('unset')) statement.jsonDefault = 'UNSET';
        else if (!this.acceptKeyword('null')) throw this.noViable();
      }
    } else {
      this.expectPunct('(');
      statement.columns = this.identifierList();
      this.expectPunct(')');
      this.expectKeyword('values');
      this.expectPunct('(');
      do statement.values.push(this.term());
      while (this.acceptPunct(','));
      this.expectPunct(')');
    }
    statement.ifNotExists = this.ifNotExists();
    statement.using = this.optionalUsing(true);
    return statement;
  }

  private update(): Update {
    this.pos++;
    const table = this.qualifiedName();
    const using = this.optionalUsing(true);
    this.expectKeyword('set');
    const assignments: Assignment[] = [];
    do assignments.push(this.assignment());
    while (this.acceptPunct(','));
    this.expectKeyword('where');
    const where = this.relations();
    return { kind: 'update', table, using, assignments, where, ...this.ifClause() };
  }

  private assignment(): Assignment {
    const column = this.identifier();
    if (this.acceptPunct('[')) {
      const element = this.term();
      this.expectPunct(']');
      this.expectPunct('=');
      return { kind: 'setElement', column, element, value: this.term() };
    }
    if (this.acceptPunct('+=')) return { kind: 'add', column, value: this.term() };
    if (this.acceptPunct('-=')) return { kind: 'subtract', column, value: this.term() };
    this.expectPunct('=');
    // `c = c + t` / `c = c - t`: a name followed by + or - can only be the column itself.
    if (this.isIdentifier() && (this.isPunct('+', 1) || this.isPunct('-', 1))) {
      const op = this.peek(1).text;
      this.sameColumn(column, op);
      this.pos++;
      const value = this.term();
      return op === '+' ? { kind: 'add', column, value } : { kind: 'subtract', column, value };
    }
    const value = this.term();
    if (this.acceptPunct('+')) {
      this.sameColumn(column, '+');
      return { kind: 'prepend', column, value };
    }
    return { kind: 'set', column, value };
  }

  /** Consumes a column name that must repeat the assigned column. */
  private sameColumn(column: string, op: string): void {
    const token = this.peek();
    if (this.identifier() !== column) {
      throw this.error(token, `Only expressions of the form X = X ${op} <value> are supported.`);
    }
  }

  private delete(): Delete {
    this.pos++;
    const targets: DeleteTarget[] = [];
    if (!this.isKeyword('from')) {
      do {
        const column = this.identifier();
        let element: Term | null = null;
        if (this.acceptPunct('[')) {
          element = this.term();
          this.expectPunct(']');
        }
        targets.push({ column, element });
      } while (this.acceptPunct(','));
    }
    this.expectKeyword('from');
    const table = this.qualifiedName();
    const using = this.optionalUsing(false);
    this.expectKeyword('where');
    const where = this.relations();
    return { kind: 'delete', table, targets, using, where, ...this.ifClause() };
  }

  /** Optional `IF EXISTS` or `IF cond AND …` of UPDATE and DELETE. */
  private ifClause(): { ifExists: boolean; conditions: Condition[] } {
    if (!this.acceptKeyword('if')) return { ifExists: false, conditions: [] };
    // `exists` is also a legal column name: it is the keyword unless an operator follows.
    if (this.isKeyword('exists') && !this.isConditionOperator(1)) {
      this.pos++;
      return { ifExists: true, conditions: [] };
    }
    const conditions: Condition[] = [];
    do conditions.push(this.condition());
    while (this.acceptKeyword('and'));
    return { ifExists: false, conditions };
  }

  private isConditionOperator(offset: number): boolean {
    const token = this.peek(offset);
    if (token.kind === 'punct') return token.text === '[' || COMPARE_OPS.has(token.text);
    return token.kind === 'ident' && token.text === 'in';
  }

  private condition(): Condition {
    const column = this.identifier();
    let element: Term | null = null;
    if (this.acceptPunct('[')) {
      element = this.term();
      this.expectPunct(']');
    }
    if (this.acceptKeyword('in')) return { column, element, op: 'IN', value: this.inValues() };
    const op = this.compareOp(true);
    return { column, element, op, value: this.term() };
  }

  private batch(): Batch {
    this.pos++;
    let type: Batch['type'] = 'LOGGED';
    if (this.acceptKeyword('unlogged')) type = 'UNLOGGED';
    else if (this.acceptKeyword('counter')) type = 'COUNTER';
    this.expectKeyword('batch');
    const using = this.optionalUsing(false);
    const statements: ModificationStatement[] = [];
    while (!this.isKeyword('apply')) {
      const token = this.peek();
      if (token.kind !== 'ident') throw this.mismatched('K_APPLY', token);
      if (token.text === 'insert') statements.push(this.insert());
      else if (token.text === 'update') statements.push(this.update());
      else if (token.text === 'delete') statements.push(this.delete());
      else throw this.mismatched('K_APPLY', token);
      this.acceptPunct(';');
    }
    this.pos++;
    this.expectKeyword('batch');
    return { kind: 'batch', type, using, statements };
  }

  // ---- WHERE --------------------------------------------------------------------------

  private relations(): Relation[] {
    const relations = [this.relation()];
    while (this.acceptKeyword('and')) relations.push(this.relation());
    return relations;
  }

  private compareOp(allowNotEquals: true): CompareOp;
  private compareOp(allowNotEquals: false): Exclude<CompareOp, '!='>;
  private compareOp(allowNotEquals: boolean): CompareOp {
    const token = this.peek();
    if (token.kind !== 'punct' || !COMPARE_OPS.has(token.text) || (!allowNotEquals && token.text === '!=')) {
      throw this.noViable(token);
    }
    this.pos++;
    return token.text as CompareOp;
  }

  /** After IN: `(t, …)` (possibly empty) or one marker bound to the whole list. */
  private inValues(): Term[] | Term {
    if (this.isMarkerStart()) return this.markerTerm();
    this.expectPunct('(');
    const values: Term[] = [];
    if (this.acceptPunct(')')) return values;
    do values.push(this.term());
    while (this.acceptPunct(','));
    this.expectPunct(')');
    return values;
  }

  private relation(): Relation {
    if (this.isKeyword('token') && this.isPunct('(', 1)) {
      this.pos += 2;
      const columns = this.identifierList();
      this.expectPunct(')');
      const op = this.compareOp(false);
      return { kind: 'token', columns, op, value: this.term() };
    }
    if (this.acceptPunct('(')) {
      const columns = this.identifierList();
      this.expectPunct(')');
      if (this.acceptKeyword('in')) return { kind: 'tupleIn', columns, values: this.inValues() };
      const op = this.compareOp(false);
      return { kind: 'tupleCompare', columns, op, value: this.term() };
    }
    const column = this.identifier();
    if (this.acceptPunct('[')) {
      const element = this.term();
      this.expectPunct(']');
      const op = this.compareOp(true);
      return { kind: 'elementCompare', column, element, op, value: this.term() };
    }
    if (this.acceptKeyword('in')) return { kind: 'in', column, values: this.inValues() };
    if (this.acceptKeyword('contains')) {
      const key = this.acceptKeyword('key');
      return { kind: 'contains', column, key, value: this.term() };
    }
    const op = this.compareOp(true);
    return { kind: 'compare', column, op, value: this.term() };
  }

  // ---- SELECT -------------------------------------------------------------------------

  /**
   * JSON and DISTINCT are not reserved, so `SELECT json FROM t` selects a column named
   * json: the word is the keyword only when a selection follows it.
   */
  private isSelectModifier(keyword: string): boolean {
    if (!this.isKeyword(keyword)) return false;
    const next = this.peek(1);
    if (next.kind === 'eof') return false;
    if (next.kind === 'punct') return next.text !== ',' && next.text !== '(';
    return !(next.kind === 'ident' && (next.text === 'from' || next.text === 'as'));
  }

  private select(): Select {
    this.pos++;
    const json = this.isSelectModifier('json');
    if (json) this.pos++;
    const distinct = this.isSelectModifier('distinct');
    if (distinct) this.pos++;
    let selection: SelectItem[] | null = null;
    if (!this.acceptPunct('*')) {
      selection = [];
      do selection.push(this.selectItem());
      while (this.acceptPunct(','));
    }
    this.expectKeyword('from');
    const statement: Select = {
      kind: 'select',
      table: this.qualifiedName(),
      distinct,
      json,
      selection,
      where: [],
      groupBy: [],
      orderBy: [],
      perPartitionLimit: null,
      limit: null,
      allowFiltering: false,
    };
    if (this.acceptKeyword('where')) statement.where = this.relations();
    if (this.isKeyword('group') && this.isKeyword('by', 1)) {
      this.pos += 2;
      statement.groupBy = this.identifierList();
    }
    if (this.acceptKeyword('order')) {
      this.expectKeyword('by');
      do statement.orderBy.push(this.ordering(false));
      while (this.acceptPunct(','));
    }
    if (this.isKeyword('per') && this.isKeyword('partition', 1)) {
      this.pos += 2;
      this.expectKeyword('limit');
      statement.perPartitionLimit = this.intValue();
    }
    if (this.acceptKeyword('limit')) statement.limit = this.intValue();
    if (this.acceptKeyword('allow')) {
      this.expectKeyword('filtering');
      statement.allowFiltering = true;
    }
    return statement;
  }

  private selectItem(): SelectItem {
    const selector = this.selector();
    return { selector, alias: this.acceptKeyword('as') ? this.identifier() : null };
  }

  private selector(): Selector {
    const token = this.peek();
    if (token.kind !== 'ident' && token.kind !== 'quoted') return { kind: 'term', term: this.term() };
    if (token.kind === 'ident' && token.text === 'null') return { kind: 'term', term: this.term() };
    if (!this.isFunctionCall()) return { kind: 'column', name: this.identifier() };
    if (token.kind === 'ident' && this.isPunct('(', 1)) {
      switch (token.text) {
        case 'count':
          if (this.isCountRows()) {
            this.pos += 4;
            return { kind: 'countRows' };
          }
          break;
        case 'writetime':
        case 'ttl': {
          this.pos += 2;
          const column = this.identifier();
          this.expectPunct(')');
          return token.text === 'ttl' ? { kind: 'ttl', column } : { kind: 'writetime', column };
        }
        case 'cast': {
          this.pos += 2;
          const selector = this.selector();
          this.expectKeyword('as');
          const type = this.typeSpec();
          this.expectPunct(')');
          return { kind: 'cast', selector, type };
        }
      }
    }
    const name = this.functionName();
    this.expectPunct('(');
    const args: Selector[] = [];
    if (!this.acceptPunct(')')) {
      do args.push(this.selector());
      while (this.acceptPunct(','));
      this.expectPunct(')');
    }
    return { kind: 'function', name, args };
  }

  /** At `count(`: true for `count(*)` and `count(1)`, which count rows. */
  private isCountRows(): boolean {
    const arg = this.peek(2);
    const countsRows = (arg.kind === 'punct' && arg.text === '*') || (arg.kind === 'integer' && arg.text === '1');
    return countsRows && this.isPunct(')', 3);
  }
}

/** Parses one statement, optionally followed by ';'. Throws CqlSyntaxError. */
export function parse(text: string): ParsedStatement {
  const parser = new Parser(text, tokenize(text));
  const statement = parser.statement();
  parser.acceptPunct(';');
  if (!parser.atEnd()) {
    const token = parser.peek();
    throw parser.error(token, `missing EOF at '${text.slice(token.start, token.end)}'`);
  }
  return { statement, markers: parser.markers };
}

/**
 * Parses ';'-separated statements (a script, as a shell reads it); empty statements
 * are skipped. Each statement has its own markers, indexed from 0.
 */
export function parseScript(text: string): ParsedStatement[] {
  const parser = new Parser(text, tokenize(text));
  const statements: ParsedStatement[] = [];
  while (true) {
    while (parser.acceptPunct(';'));
    if (parser.atEnd()) return statements;
    parser.markers = [];
    const statement = parser.statement();
    statements.push({ statement, markers: parser.markers });
    if (!parser.acceptPunct(';') && !parser.atEnd()) throw parser.mismatched("';'");
  }
}
