/**
 * Compiling terms (literals, bind markers, function calls, collection literals)
 * against the type that receives them. Compilation happens once per prepared
 * statement: constant terms are converted then, so executing a statement only
 * evaluates markers and non-deterministic functions.
 */
import { InvalidRequest } from '../errors.js';
import type { CqlType, Literal } from '../schema/type.js';
import { InvalidLiteral, typeFromSpec } from '../schema/types.js';
import type { Term } from './ast.js';
import type { ExecContext } from './bindings.js';
import { resolveFunction } from './functions.js';

/** Produces a term's JS value (null for CQL null) in one execution. */
export type Evaluator = (ctx: ExecContext) => unknown;

export interface Receiver {
  /** What the value is for, in messages: a column name, or e.g. 'LIMIT'. */
  readonly name: string;
  readonly type: CqlType;
}

/** Whether a term can be evaluated once at prepare time. */
function isConstant(term: Term): boolean {
  switch (term.kind) {
    case 'literal':
      return true;
    case 'bind':
      return false;
    case 'function':
      return false; // resolved below; deterministic functions of constants are folded there
    case 'list':
    case 'set':
    case 'tuple':
      return term.items.every(isConstant);
    case 'map':
      return term.entries.every(([k, v]) => isConstant(k) && isConstant(v));
    case 'cast':
    case 'negate':
      return isConstant(term.term);
  }
}

function rephrase(error: unknown, receiver: Receiver): never {
  if (error instanceof InvalidLiteral) throw error.forReceiver(receiver.name);
  if (error instanceof InvalidRequest) {
    // Types don't know the column; name it the way Cassandra does.
    const message = error.message.replace(/ for type ([^:]+)$/, ` for "${receiver.name}" of type $1`);
    throw new InvalidRequest(message === error.message ? `Invalid value for "${receiver.name}": ${error.message}` : message);
  }
  throw error;
}

function fromLiteral(literal: Literal, receiver: Receiver): unknown {
  if (literal.kind === 'null') return null;
  try {
    return receiver.type.fromLiteral(literal);
  } catch (error) {
    rephrase(error, receiver);
  }
}

/** Sorts and de-duplicates set elements by their serialized order. */
export function canonicalSet(elementType: CqlType, values: unknown[]): unknown[] {
  const withBytes = values.map((v) => ({ v, b: elementType.serialize(v) }));
  withBytes.sort((x, y) => elementType.compare(x.b, y.b));
  return withBytes.filter((x, i) => i === 0 || elementType.compare(withBytes[i - 1].b, x.b) !== 0).map((x) => x.v);
}

/** Sorts map entries by key and keeps the last value given for a repeated key. */
export function canonicalMap(keyType: CqlType, entries: [unknown, unknown][]): [unknown, unknown][] {
  const withBytes = entries.map(([k, v], i) => ({ k, v, b: keyType.serialize(k), i }));
  withBytes.sort((x, y) => keyType.compare(x.b, y.b) || x.i - y.i);
  const out: [unknown, unknown][] = [];
  for (let i = 0; i < withBytes.length; i++) {
    const next = withBytes[i + 1];
    if (next !== undefined && keyType.compare(withBytes[i].b, next.b) === 0) continue;
    out.push([withBytes[i].k, withBytes[i].v]);
  }
  return out;
}

function collectionMismatch(what: string, receiver: Receiver): never {
  throw new InvalidRequest(`Invalid ${what} literal for ${receiver.name} of type ${receiver.type.name}`);
}

/** The type a term has on its own (function results, casts), or null when only its receiver can tell. */
export function termType(term: Term): CqlType | null {
  if (term.kind === 'cast') return typeFromSpec(term.type);
  if (term.kind === 'function') {
    try {
      return resolveFunction(term.name, term.args.map(termType), () => true).returnType;
    } catch {
      return null;
    }
  }
  return null;
}

export function compileTerm(term: Term, receiver: Receiver): Evaluator {
  const evaluator = compileDynamic(term, receiver);
  if (isConstant(term)) {
    const value = evaluator(undefined as unknown as ExecContext);
    return () => value;
  }
  return evaluator;
}

function compileDynamic(term: Term, receiver: Receiver): Evaluator {
  const type = receiver.type;
  switch (term.kind) {
    case 'literal': {
      const value = fromLiteral(term.value, receiver);
      return () => value;
    }
    case 'bind': {
      const index = term.index;
      const label = term.name === null ? receiver.name : term.name;
      return (ctx) => {
        const json = ctx.bindings.get(index);
        if (json === null) return null;
        try {
          return type.fromJson(json);
        } catch (error) {
          rephrase(error, { name: label, type });
        }
      };
    }
    case 'cast': {
      const castType = typeFromSpec(term.type);
      if (!type.isCompatibleWith(castType)) {
        throw new InvalidRequest(`Cannot assign value of type ${castType.name} to ${receiver.name} of type ${type.name}`);
      }
      return compileDynamic(term.term, { name: receiver.name, type: castType });
    }
    case 'negate': {
      const inner = compileDynamic(term.term, receiver);
      return (ctx) => {
        const v = inner(ctx);
        if (v === null) return null;
        if (typeof v === 'number') return -v;
        if (typeof v === 'bigint') return -v;
        throw new InvalidRequest(`Cannot negate a value of type ${type.name}`);
      };
    }
    case 'function':
      return compileFunction(term, receiver);
    case 'list': {
      if (type.kind !== 'list') collectionMismatch('list', receiver);
      const element = { name: `value(${receiver.name})`, type: type.params[0] };
      const items = term.items.map((t) => compileTerm(t, element));
      return (ctx) => items.map((f) => nonNullElement(f(ctx), receiver));
    }
    case 'set': {
      if (type.kind !== 'set') collectionMismatch('set', receiver);
      const elementType = type.params[0];
      const items = term.items.map((t) => compileTerm(t, { name: `value(${receiver.name})`, type: elementType }));
      return (ctx) => canonicalSet(elementType, items.map((f) => nonNullElement(f(ctx), receiver)));
    }
    case 'map': {
      if (type.kind !== 'map') collectionMismatch('map', receiver);
      const [keyType, valueType] = type.params;
      const entries = term.entries.map(
        ([k, v]) =>
          [
            compileTerm(k, { name: `key(${receiver.name})`, type: keyType }),
            compileTerm(v, { name: `value(${receiver.name})`, type: valueType }),
          ] as const,
      );
      return (ctx) =>
        canonicalMap(
          keyType,
          entries.map(([k, v]) => [nonNullElement(k(ctx), receiver), nonNullElement(v(ctx), receiver)]),
        );
    }
    case 'tuple': {
      if (type.kind !== 'tuple') collectionMismatch('tuple', receiver);
      if (term.items.length > type.params.length) {
        throw new InvalidRequest(
          `Invalid tuple literal for ${receiver.name}: too many elements. Type ${type.name} expects ${type.params.length} but got ${term.items.length}`,
        );
      }
      const items = type.params.map((fieldType, i) =>
        i < term.items.length ? compileTerm(term.items[i], { name: `${receiver.name}[${i}]`, type: fieldType }) : () => null,
      );
      return (ctx) => items.map((f) => f(ctx));
    }
  }
}

function nonNullElement(value: unknown, receiver: Receiver): unknown {
  if (value === null) throw new InvalidRequest(`null is not supported inside collections (${receiver.name})`);
  return value;
}

function literalAccepts(term: Term, type: CqlType): boolean {
  if (term.kind === 'bind') return true;
  if (term.kind !== 'literal') return termType(term)?.isCompatibleWith(type) ?? true;
  try {
    type.fromLiteral(term.value);
    return true;
  } catch {
    return false;
  }
}

function compileFunction(term: Extract<Term, { kind: 'function' }>, receiver: Receiver): Evaluator {
  if (term.name.toLowerCase() === 'token') {
    throw new InvalidRequest('token() is only allowed in a selection or in a WHERE clause on the partition key');
  }
  const fn = resolveFunction(term.name, term.args.map(termType), (i, t) => literalAccepts(term.args[i], t));
  if (!receiver.type.isCompatibleWith(fn.returnType)) {
    throw new InvalidRequest(
      `Type error: cannot assign result of function ${fn.name} (type ${fn.returnType.name}) to ${receiver.name} (type ${receiver.type.name})`,
    );
  }
  const args = term.args.map((a, i) => compileTerm(a, { name: `${fn.name} argument ${i + 1}`, type: fn.argTypes[i] }));
  const evaluate: Evaluator = (ctx) => {
    const values = args.map((a) => a(ctx));
    if (values.some((v) => v === null)) return null;
    return fn.apply(values, ctx);
  };
  if (fn.deterministic && term.args.every(isConstant)) {
    const value = evaluate(undefined as unknown as ExecContext);
    return () => value;
  }
  return evaluate;
}

