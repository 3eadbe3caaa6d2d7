/**
 * The contract every CQL type implements. Implementations live in lib/schema/types.ts;
 * `parseTypeSpec`/`typeFromSpec` there build them from CQL type names.
 *
 * Three representations of a value meet here:
 * - bytes: Cassandra's serialized form (what is stored in cells and keys);
 * - the JS value: int/smallint/tinyint/float/double → number; bigint/varint/counter →
 *   bigint; decimal → string (plain decimal text, e.g. "-12.50"); boolean; text/ascii/
 *   varchar → string; uuid/timeuuid → lower-case string; timestamp → number (ms since
 *   epoch); date → number (days since epoch, may be negative); time → bigint (ns since
 *   midnight); blob → Buffer; inet → string; list/set/tuple → array; map → array of
 *   [key, value] pairs; duration → {months, days, nanoseconds};
 * - JSON: the HTTP contract's forms (DESIGN.md, "JSON values").
 */

/** A literal as written in a CQL statement, before a type gives it meaning. */
export type Literal =
  | { kind: 'string'; text: string }
  | { kind: 'integer'; text: string }
  | { kind: 'float'; text: string } // includes NaN, Infinity, exponents
  | { kind: 'boolean'; value: boolean }
  | { kind: 'uuid'; text: string }
  | { kind: 'hex'; text: string } // 0x… blob literal, text without the 0x
  | { kind: 'duration'; text: string }
  | { kind: 'null' }
  | { kind: 'list'; items: Literal[] }
  | { kind: 'set'; items: Literal[] }
  | { kind: 'map'; entries: [Literal, Literal][] }
  /** `{}` is ambiguous between an empty set and an empty map; the receiver decides. */
  | { kind: 'emptyBraces' }
  | { kind: 'tuple'; items: Literal[] };

export type TypeKind = 'native' | 'list' | 'set' | 'map' | 'tuple';

export interface CqlType {
  /** CQL spelling, canonical: 'int', 'list<text>', 'frozen<map<int, text>>'. */
  readonly name: string;
  readonly kind: TypeKind;
  /** True for non-frozen list/set/map: stored as one cell per element. */
  readonly multiCell: boolean;
  /** Element types: list/set → [element]; map → [key, value]; tuple → its fields. */
  readonly params: readonly CqlType[];
  /** The frozen form of this type (itself when already frozen or native). */
  frozen(): CqlType;

  serialize(value: unknown): Buffer;
  deserialize(bytes: Buffer): unknown;
  /** Natural order on serialized values (for clustering columns, set elements, map keys). */
  compare(a: Buffer, b: Buffer): number;

  /** JSON request value → JS value. Throws InvalidRequest naming the type on bad input. */
  fromJson(json: unknown): unknown;
  /** JS value → JSON response value. */
  toJson(value: unknown): unknown;
  /** CQL literal → JS value. Throws InvalidRequest ("Invalid STRING constant (foo) for
   *  type int") when the literal cannot be this type. */
  fromLiteral(literal: Literal): unknown;
  /** JS value → CQL literal text (for DESCRIBE-like output and error messages). */
  toCqlString(value: unknown): string;

  /** True when a value of `other` can be stored in a column of this type unchanged
   *  (e.g. text ↔ varchar, timeuuid → uuid); used by ALTER and bind-marker checks. */
  isCompatibleWith(other: CqlType): boolean;
}

/** A CQL type as written: `frozen<map<text, list<int>>>` →
 *  { name: 'frozen', params: [{ name: 'map', params: [...] }] }. Names are lower-case. */
export interface TypeSpec {
  name: string;
  params: TypeSpec[];
}
