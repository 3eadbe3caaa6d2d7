/**
 * The CQL types: one class per family of native types, the collections and tuples, and
 * the factory that builds them from type names (`typeFromSpec`, `parseTypeName`).
 *
 * Serialized forms are the native protocol v4/v5 value encodings, so stored bytes mean
 * what they mean in Cassandra and order the way Cassandra orders them. The JS value and
 * JSON forms of each type are listed in ./type.ts and DESIGN.md ("JSON values").
 *
 * Types are immutable and shared: the natives are singletons and composite types are
 * cached by canonical name, so `parseTypeName('list<int>') === parseTypeName('list<int>')`
 * and identity comparison is the fast path of isCompatibleWith.
 */
import { CqlSyntaxError, InvalidRequest } from '../errors.js';
import type { CqlType, Literal, TypeKind, TypeSpec } from './type.js';
import { bytesToUuid, compareTimeuuid, compareUuid, isUuidString, uuidToBytes, uuidVersion } from './uuid.js';

// ---------------------------------------------------------------------------
// Errors

type ValueLiteral = Exclude<Literal, { kind: 'null' }>;

const literalKindNames: Record<Literal['kind'], string> = {
  string: 'STRING',
  integer: 'INTEGER',
  float: 'FLOAT',
  boolean: 'BOOLEAN',
  uuid: 'UUID',
  hex: 'HEX',
  duration: 'DURATION',
  null: 'NULL',
  list: 'LIST',
  set: 'SET',
  map: 'MAP',
  // Cassandra reads `{}` as an empty map literal until a receiver says otherwise.
  emptyBraces: 'MAP',
  tuple: 'TUPLE',
};

/** The kind of a literal as Cassandra names it in messages: STRING, INTEGER, FLOAT … */
export function literalKindName(literal: Literal): string {
  return literalKindNames[literal.kind];
}

/** The literal as written, for a constant; null for a collection or tuple literal. */
function constantText(literal: Literal): string | null {
  switch (literal.kind) {
    case 'string':
    case 'integer':
    case 'float':
    case 'uuid':
    case 'duration':
      return literal.text;
    case 'hex':
      return `0x${literal.text}`;
    case 'boolean':
      return String(literal.value);
    case 'null':
      return 'null';
    default:
      return null;
  }
}

/**
 * A literal that cannot be a value of a type. The message follows Cassandra's wording:
 * "Invalid STRING constant (foo) for type int". The executor knows the receiving column
 * and calls `forReceiver('k')` to get `Invalid STRING constant (foo) for "k" of type int`;
 * for an element inside a collection the receiver becomes `value(k)`, `key(k)` or `k[0]`
 * (tuple field), as in Cassandra.
 */
export class InvalidLiteral extends InvalidRequest {
  constructor(
    readonly literal: Literal,
    readonly typeName: string,
    readonly reason: string | null = null,
    /** Where the literal sits inside the receiving column, innermost first, as templates
     *  with '%' standing for the enclosing receiver's name: 'value(%)', 'key(%)', '%[1]'. */
    readonly roles: readonly string[] = [],
    receiver: string | null = null,
  ) {
    const target =
      receiver === null
        ? `type ${typeName}`
        : `"${roles.reduceRight((name, role) => role.replace('%', () => name), receiver)}" of type ${typeName}`;
    const text = constantText(literal);
    const head =
      text === null
        ? `Invalid ${literalKindName(literal).toLowerCase()} literal for ${target}`
        : `Invalid ${literalKindName(literal)} constant (${text}) for ${target}`;
    super(reason === null ? head : `${head}: ${reason}`);
  }

  /** The same error one level further out: the literal is an element (`role`) of a collection. */
  within(role: string): InvalidLiteral {
    return new InvalidLiteral(this.literal, this.typeName, this.reason, [...this.roles, role]);
  }

  /** The same error naming the receiving column. */
  forReceiver(column: string): InvalidLiteral {
    return new InvalidLiteral(this.literal, this.typeName, this.reason, this.roles, column);
  }
}

const shownValueLengthMax = 100;

/** A short rendering of a bad value for an error message. */
function show(value: unknown): string {
  let text: string;
  if (typeof value === 'bigint' || typeof value === 'number' || value === undefined) text = String(value);
  else if (Buffer.isBuffer(value)) text = `0x${value.toString('hex')}`;
  else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch {
      text = String(value);
    }
  }
  return text.length > shownValueLengthMax ? `${text.slice(0, shownValueLengthMax)}…` : text;
}

/** "Invalid value 3000000000 for type int: out of range" — for JSON and JS values. */
function invalidValue(typeName: string, value: unknown, reason: string): InvalidRequest {
  return new InvalidRequest(`Invalid value ${show(value)} for type ${typeName}: ${reason}`);
}

function expectLength(type: CqlType, bytes: Buffer, length: number): void {
  if (bytes.length !== length) {
    throw new InvalidRequest(`Expected ${length} bytes for a ${type.name} value, got ${bytes.length}`);
  }
}

const nullInCollection = 'null is not supported inside collections';

function notNull<T>(value: T): T {
  if (value === null || value === undefined) throw new InvalidRequest(nullInCollection);
  return value;
}

// ---------------------------------------------------------------------------
// The common base

/** Every type built here; `params` of composite types are always BaseTypes. */
abstract class BaseType implements CqlType {
  constructor(
    readonly name: string,
    readonly kind: TypeKind = 'native',
    readonly params: readonly CqlType[] = [],
    readonly multiCell = false,
  ) {}

  frozen(): CqlType {
    return this;
  }

  abstract serialize(value: unknown): Buffer;
  abstract deserialize(bytes: Buffer): unknown;
  abstract compare(a: Buffer, b: Buffer): number;
  abstract fromJson(json: unknown): unknown;
  abstract toJson(value: unknown): unknown;
  abstract toCqlString(value: unknown): string;
  protected abstract fromValueLiteral(literal: ValueLiteral): unknown;

  fromLiteral(literal: Literal): unknown {
    return literal.kind === 'null' ? null : this.fromValueLiteral(literal);
  }

  isCompatibleWith(other: CqlType): boolean {
    return other === this;
  }

  /** The property name of `value` as a key of a JSON map: its JSON form, as text. */
  jsonKey(value: unknown): string {
    const json = this.toJson(value);
    return typeof json === 'string' ? json : JSON.stringify(json);
  }

  /** Inverse of jsonKey. Native types accept their value as text in fromJson ("1" for
   *  an int); collections and tuples arrive as JSON text to parse ("[1,2]"). */
  fromJsonKey(key: string): unknown {
    if (this.kind === 'native') return this.fromJson(key);
    let json: unknown;
    try {
      json = JSON.parse(key);
    } catch {
      throw this.invalid(key, 'not valid JSON for a map key');
    }
    return this.fromJson(json);
  }

  protected rejectLiteral(literal: Literal, reason: string | null = null): never {
    throw new InvalidLiteral(literal, this.name, reason);
  }

  protected invalid(value: unknown, reason: string): InvalidRequest {
    return invalidValue(this.name, value, reason);
  }
}

// ---------------------------------------------------------------------------
// Integers

const integerPattern = /^[+-]?\d+$/;
const int64Min = -(2n ** 63n);
const int64Max = 2n ** 63n - 1n;

/** An integer from JSON: a number (exact) or a string of digits; null bounds = unbounded. */
function integerFromJson(type: CqlType, json: unknown, min: bigint | null, max: bigint | null): bigint {
  let value: bigint;
  if (typeof json === 'number') {
    if (!Number.isInteger(json)) throw invalidValue(type.name, json, 'not an integer');
    value = BigInt(json);
  } else if (typeof json === 'string' && integerPattern.test(json)) {
    value = BigInt(json);
  } else if (typeof json === 'bigint') {
    value = json;
  } else {
    throw invalidValue(type.name, json, 'expected an integer');
  }
  if ((min !== null && value < min) || (max !== null && value > max)) throw invalidValue(type.name, json, 'out of range');
  // Beyond 2^53 a JSON number has already been rounded by the parser: refuse a guess.
  if (typeof json === 'number' && !Number.isSafeInteger(json)) {
    throw invalidValue(type.name, json, 'too large to be exact as a JSON number; send it as a string');
  }
  return value;
}

/** Compares two big-endian signed 64-bit values without allocating bigints. */
function compareInt64(a: Buffer, b: Buffer): number {
  return a.readInt32BE(0) - b.readInt32BE(0) || a.readUInt32BE(4) - b.readUInt32BE(4);
}

/** int, smallint, tinyint: fixed-width two's complement, JS number. */
class FixedIntType extends BaseType {
  private readonly min: bigint;
  private readonly max: bigint;

  constructor(
    name: string,
    private readonly width: 1 | 2 | 4,
  ) {
    super(name);
    this.max = 2n ** BigInt(width * 8 - 1) - 1n;
    this.min = -this.max - 1n;
  }

  serialize(value: unknown): Buffer {
    if (typeof value !== 'number' || !Number.isInteger(value)) throw this.invalid(value, 'expected an integer');
    if (value < this.min || value > this.max) throw this.invalid(value, 'out of range');
    const bytes = Buffer.allocUnsafe(this.width);
    bytes.writeIntBE(value, 0, this.width);
    return bytes;
  }

  deserialize(bytes: Buffer): number {
    expectLength(this, bytes, this.width);
    return bytes.readIntBE(0, this.width);
  }

  compare(a: Buffer, b: Buffer): number {
    return a.readIntBE(0, this.width) - b.readIntBE(0, this.width);
  }

  fromJson(json: unknown): number {
    return Number(integerFromJson(this, json, this.min, this.max));
  }

  toJson(value: unknown): unknown {
    return value;
  }

  protected fromValueLiteral(literal: ValueLiteral): number {
    if (literal.kind !== 'integer') this.rejectLiteral(literal);
    const value = BigInt(literal.text);
    if (value < this.min || value > this.max) this.rejectLiteral(literal, 'out of range');
    return Number(value);
  }

  toCqlString(value: unknown): string {
    return String(value);
  }
}

/** bigint and counter: signed 64-bit, JS bigint, JSON string. */
class Int64Type extends BaseType {
  serialize(value: unknown): Buffer {
    if (typeof value !== 'bigint') throw this.invalid(value, 'expected a bigint');
    if (value < int64Min || value > int64Max) throw this.invalid(value, 'out of range');
    const bytes = Buffer.allocUnsafe(8);
    bytes.writeBigInt64BE(value);
    return bytes;
  }

  deserialize(bytes: Buffer): bigint {
    expectLength(this, bytes, 8);
    return bytes.readBigInt64BE(0);
  }

  compare(a: Buffer, b: Buffer): number {
    return compareInt64(a, b);
  }

  fromJson(json: unknown): bigint {
    return integerFromJson(this, json, int64Min, int64Max);
  }

  toJson(value: unknown): unknown {
    return String(value);
  }

  protected fromValueLiteral(literal: ValueLiteral): bigint {
    // Digit strings too: they are the JSON form, so values copied from results work.
    if (literal.kind !== 'integer' && !(literal.kind === 'string' && integerPattern.test(literal.text))) {
      this.rejectLiteral(literal);
    }
    const value = BigInt(literal.text);
    if (value < int64Min || value > int64Max) this.rejectLiteral(literal, 'out of range');
    return value;
  }

  toCqlString(value: unknown): string {
    return String(value);
  }
}

/** Two's complement, big-endian, in the fewest bytes that keep the sign (0 is one 00 byte). */
function encodeVarint(value: bigint): Buffer {
  const negative = value < 0n;
  // A negative n is the bitwise complement of the non-negative -n - 1.
  const magnitude = negative ? -value - 1n : value;
  let hex = magnitude.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  if (parseInt(hex[0]!, 16) >= 8) hex = `00${hex}`;
  const bytes = Buffer.from(hex, 'hex');
  if (negative) for (let i = 0; i < bytes.length; i++) bytes[i] = ~bytes[i]! & 0xff;
  return bytes;
}

function decodeVarint(bytes: Buffer): bigint {
  if (bytes.length === 0) throw new InvalidRequest('A varint needs at least one byte');
  const unsigned = BigInt(`0x${bytes.toString('hex')}`);
  return bytes[0]! >= 0x80 ? unsigned - (1n << BigInt(bytes.length * 8)) : unsigned;
}

/** Index of the first byte that is not a redundant sign extension (0x00 before a byte
 *  with a clear top bit, 0xff before one with it set). */
function significantStart(bytes: Buffer, signByte: number): number {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === signByte && (bytes[start + 1]! & 0x80) === (signByte & 0x80)) start++;
  return start;
}

/** Numeric order of two varints straight from their bytes (which need not be minimal,
 *  so int and bigint bytes compare correctly too). */
function compareVarint(a: Buffer, b: Buffer): number {
  const aNegative = a.length > 0 && a[0]! >= 0x80;
  const bNegative = b.length > 0 && b[0]! >= 0x80;
  if (aNegative !== bNegative) return aNegative ? -1 : 1;
  const signByte = aNegative ? 0xff : 0x00;
  const aStart = significantStart(a, signByte);
  const bStart = significantStart(b, signByte);
  const aLength = a.length - aStart;
  const bLength = b.length - bStart;
  // More significant bytes: a greater magnitude, so larger if positive, smaller if negative.
  if (aLength !== bLength) return aNegative ? bLength - aLength : aLength - bLength;
  // Same sign and width: two's complement orders like unsigned bytes.
  return a.compare(b, bStart, b.length, aStart, a.length);
}

class VarintType extends BaseType {
  serialize(value: unknown): Buffer {
    if (typeof value !== 'bigint') throw this.invalid(value, 'expected a bigint');
    return encodeVarint(value);
  }

  deserialize(bytes: Buffer): bigint {
    return decodeVarint(bytes);
  }

  compare(a: Buffer, b: Buffer): number {
    return compareVarint(a, b);
  }

  fromJson(json: unknown): bigint {
    return integerFromJson(this, json, null, null);
  }

  toJson(value: unknown): unknown {
    return String(value);
  }

  protected fromValueLiteral(literal: ValueLiteral): bigint {
    if (literal.kind === 'integer' || (literal.kind === 'string' && integerPattern.test(literal.text))) {
      return BigInt(literal.text);
    }
    return this.rejectLiteral(literal);
  }

  toCqlString(value: unknown): string {
    return String(value);
  }

  /** Every fixed-width integer's bytes are a valid (non-minimal) varint of the same value. */
  override isCompatibleWith(other: CqlType): boolean {
    return other === this || other === int || other === bigint || other === smallint || other === tinyint;
  }
}

// ---------------------------------------------------------------------------
// Floating point and decimal

const floatTextPattern = /^[+-]?(?:NaN|Infinity|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)$/;

function parseFloatText(text: string): number | null {
  return floatTextPattern.test(text) ? Number(text) : null;
}

/** Java's Float.compare/Double.compare: -0 < +0, and NaN above everything, equal to itself. */
function compareFloats(x: number, y: number): number {
  if (x < y) return -1;
  if (x > y) return 1;
  if (x === y) return x === 0 ? Number(Object.is(y, -0)) - Number(Object.is(x, -0)) : 0;
  return Number(Number.isNaN(x)) - Number(Number.isNaN(y));
}

/** float (IEEE 754 binary32) and double (binary64). JSON carries NaN and the infinities
 *  as the strings "NaN", "Infinity" and "-Infinity". */
class FloatingType extends BaseType {
  constructor(
    name: string,
    private readonly width: 4 | 8,
  ) {
    super(name);
  }

  private round(value: number): number {
    return this.width === 4 ? Math.fround(value) : value;
  }

  private read(bytes: Buffer): number {
    return this.width === 4 ? bytes.readFloatBE(0) : bytes.readDoubleBE(0);
  }

  serialize(value: unknown): Buffer {
    if (typeof value !== 'number') throw this.invalid(value, 'expected a number');
    const bytes = Buffer.allocUnsafe(this.width);
    if (this.width === 4) bytes.writeFloatBE(value);
    else bytes.writeDoubleBE(value);
    return bytes;
  }

  deserialize(bytes: Buffer): number {
    expectLength(this, bytes, this.width);
    return this.read(bytes);
  }

  compare(a: Buffer, b: Buffer): number {
    return compareFloats(this.read(a), this.read(b));
  }

  fromJson(json: unknown): number {
    const value = typeof json === 'number' ? json : typeof json === 'string' ? parseFloatText(json) : null;
    if (value === null) throw this.invalid(json, 'expected a number');
    return this.round(value);
  }

  toJson(value: unknown): unknown {
    return Number.isFinite(value) ? value : String(value);
  }

  protected fromValueLiteral(literal: ValueLiteral): number {
    const value = literal.kind === 'integer' || literal.kind === 'float' ? parseFloatText(literal.text) : null;
    return value === null ? this.rejectLiteral(literal) : this.round(value);
  }

  toCqlString(value: unknown): string {
    return String(value);
  }
}

interface Decimal {
  unscaled: bigint;
  /** Digits after the point; never negative here (see parseDecimal). */
  scale: number;
}

const decimalPattern = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;
/** JS decimals are plain text, so 1e-1000000 would be a megabyte string: bound the scale. */
const decimalScaleMax = 10_000;

/** Parses decimal text (exponents allowed); `fail` throws with the reason. A negative
 *  scale is folded into the unscaled value so that the plain-text JS form round-trips. */
function parseDecimal(text: string, fail: (reason: string) => never): Decimal {
  const match = decimalPattern.exec(text);
  const whole = match?.[2] ?? '';
  const fraction = match?.[3] ?? '';
  if (match === null || whole.length + fraction.length === 0) return fail('not a decimal number');
  const scale = fraction.length - Number(match[4] ?? '0');
  if (!(Math.abs(scale) <= decimalScaleMax)) return fail('exponent out of range');
  const unscaled = BigInt(`${match[1]}${whole}${fraction}`);
  return scale >= 0 ? { unscaled, scale } : { unscaled: unscaled * 10n ** BigInt(-scale), scale: 0 };
}

function formatDecimal({ unscaled, scale }: Decimal): string {
  const negative = unscaled < 0n;
  const digits = (negative ? -unscaled : unscaled).toString();
  let text: string;
  if (scale <= 0) text = digits === '0' ? digits : digits + '0'.repeat(-scale);
  else {
    const padded = digits.padStart(scale + 1, '0');
    text = `${padded.slice(0, -scale)}.${padded.slice(-scale)}`;
  }
  return negative ? `-${text}` : text;
}

function compareBigints(x: bigint, y: bigint): number {
  return x < y ? -1 : x > y ? 1 : 0;
}

/** decimal: int32 scale + varint unscaled value; the JS value is plain decimal text. */
class DecimalType extends BaseType {
  serialize(value: unknown): Buffer {
    if (typeof value !== 'string') throw this.invalid(value, 'expected decimal text');
    const { unscaled, scale } = parseDecimal(value, (reason) => {
      throw this.invalid(value, reason);
    });
    const digits = encodeVarint(unscaled);
    const bytes = Buffer.allocUnsafe(4 + digits.length);
    bytes.writeInt32BE(scale, 0);
    digits.copy(bytes, 4);
    return bytes;
  }

  private decode(bytes: Buffer): Decimal {
    if (bytes.length < 5) throw new InvalidRequest(`Expected at least 5 bytes for a decimal value, got ${bytes.length}`);
    const scale = bytes.readInt32BE(0);
    if (Math.abs(scale) > decimalScaleMax) throw new InvalidRequest(`Decimal scale ${scale} is out of range`);
    return { unscaled: decodeVarint(bytes.subarray(4)), scale };
  }

  deserialize(bytes: Buffer): string {
    return formatDecimal(this.decode(bytes));
  }

  compare(a: Buffer, b: Buffer): number {
    const x = this.decode(a);
    const y = this.decode(b);
    // Bring both to the larger scale; scales are bounded, so the power stays small.
    if (x.scale === y.scale) return compareBigints(x.unscaled, y.unscaled);
    if (x.scale > y.scale) return compareBigints(x.unscaled, y.unscaled * 10n ** BigInt(x.scale - y.scale));
    return compareBigints(x.unscaled * 10n ** BigInt(y.scale - x.scale), y.unscaled);
  }

  fromJson(json: unknown): string {
    const text = typeof json === 'number' && Number.isFinite(json) ? String(json) : json;
    if (typeof text !== 'string') throw this.invalid(json, 'expected a decimal number');
    return formatDecimal(
      parseDecimal(text, (reason) => {
        throw this.invalid(json, reason);
      }),
    );
  }

  toJson(value: unknown): unknown {
    return value;
  }

  protected fromValueLiteral(literal: ValueLiteral): string {
    if (literal.kind !== 'integer' && literal.kind !== 'float' && literal.kind !== 'string') this.rejectLiteral(literal);
    return formatDecimal(parseDecimal(literal.text, (reason) => this.rejectLiteral(literal, reason)));
  }

  toCqlString(value: unknown): string {
    return String(value);
  }
}

// ---------------------------------------------------------------------------
// boolean, text, ascii, blob

class BooleanType extends BaseType {
  serialize(value: unknown): Buffer {
    if (typeof value !== 'boolean') throw this.invalid(value, 'expected a boolean');
    return Buffer.from([value ? 1 : 0]);
  }

  deserialize(bytes: Buffer): boolean {
    expectLength(this, bytes, 1);
    return bytes[0] !== 0;
  }

  compare(a: Buffer, b: Buffer): number {
    return Number(a[0] !== 0) - Number(b[0] !== 0);
  }

  fromJson(json: unknown): boolean {
    if (typeof json === 'boolean') return json;
    const text = typeof json === 'string' ? json.toLowerCase() : null;
    if (text === 'true' || text === 'false') return text === 'true';
    throw this.invalid(json, 'expected a boolean');
  }

  toJson(value: unknown): unknown {
    return value;
  }

  protected fromValueLiteral(literal: ValueLiteral): boolean {
    return literal.kind === 'boolean' ? literal.value : this.rejectLiteral(literal);
  }

  toCqlString(value: unknown): string {
    return String(value);
  }
}

const asciiPattern = /^[\x00-\x7f]*$/;

/** Node 20 has String.prototype.isWellFormed; the ES2022 lib typings do not. */
function isWellFormed(text: string): boolean {
  return (text as string & { isWellFormed(): boolean }).isWellFormed();
}

function quote(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/** text (UTF-8; varchar is the same type) and ascii (US-ASCII). Ordered by bytes. */
class StringType extends BaseType {
  constructor(
    name: string,
    private readonly asciiOnly: boolean,
  ) {
    super(name);
  }

  private problem(text: string): string | null {
    if (this.asciiOnly) return asciiPattern.test(text) ? null : 'contains non-ASCII characters';
    // A lone surrogate has no UTF-8 encoding; Buffer.from would silently write U+FFFD.
    return isWellFormed(text) ? null : 'contains an unpaired surrogate';
  }

  serialize(value: unknown): Buffer {
    if (typeof value !== 'string') throw this.invalid(value, 'expected a string');
    const problem = this.problem(value);
    if (problem !== null) throw this.invalid(value, problem);
    return Buffer.from(value, this.asciiOnly ? 'latin1' : 'utf8');
  }

  deserialize(bytes: Buffer): string {
    return bytes.toString(this.asciiOnly ? 'latin1' : 'utf8');
  }

  compare(a: Buffer, b: Buffer): number {
    return Buffer.compare(a, b);
  }

  fromJson(json: unknown): string {
    if (typeof json !== 'string') throw this.invalid(json, 'expected a string');
    const problem = this.problem(json);
    if (problem !== null) throw this.invalid(json, problem);
    return json;
  }

  toJson(value: unknown): unknown {
    return value;
  }

  protected fromValueLiteral(literal: ValueLiteral): string {
    if (literal.kind !== 'string') this.rejectLiteral(literal);
    const problem = this.problem(literal.text);
    if (problem !== null) this.rejectLiteral(literal, problem);
    return literal.text;
  }

  toCqlString(value: unknown): string {
    return quote(value as string);
  }

  /** ASCII bytes are valid UTF-8 with the same order, so ascii values fit a text column. */
  override isCompatibleWith(other: CqlType): boolean {
    return other === this || (!this.asciiOnly && other === ascii);
  }
}

const hexPattern = /^(?:[0-9a-fA-F]{2})*$/;

/** blob: the bytes themselves. Neither direction copies: values and cells are treated
 *  as immutable throughout, and blobs can be large. */
class BlobType extends BaseType {
  serialize(value: unknown): Buffer {
    if (!Buffer.isBuffer(value)) throw this.invalid(value, 'expected a Buffer');
    return value;
  }

  deserialize(bytes: Buffer): Buffer {
    return bytes;
  }

  compare(a: Buffer, b: Buffer): number {
    return Buffer.compare(a, b);
  }

  fromJson(json: unknown): Buffer {
    if (typeof json !== 'string' || !json.startsWith('0x')) throw this.invalid(json, 'expected a hex string starting with 0x');
    const hex = json.slice(2);
    if (!hexPattern.test(hex)) throw this.invalid(json, 'expected an even number of hex digits');
    return Buffer.from(hex, 'hex');
  }

  toJson(value: unknown): unknown {
    return `0x${(value as Buffer).toString('hex')}`;
  }

  protected fromValueLiteral(literal: ValueLiteral): Buffer {
    if (literal.kind !== 'hex') this.rejectLiteral(literal);
    if (!hexPattern.test(literal.text)) this.rejectLiteral(literal, 'expected an even number of hex digits');
    return Buffer.from(literal.text, 'hex');
  }

  toCqlString(value: unknown): string {
    return `0x${(value as Buffer).toString('hex')}`;
  }
}

// ---------------------------------------------------------------------------
// uuid, timeuuid

/** uuid and timeuuid (version 1 only): 16 bytes, JS value the lower-case string. */
class UuidType extends BaseType {
  constructor(
    name: string,
    private readonly timeBased: boolean,
  ) {
    super(name);
  }

  private problem(text: string): string | null {
    if (!isUuidString(text)) return 'not a UUID';
    // The version nibble is the first digit of the third group.
    return this.timeBased && text[14] !== '1' ? 'not a time-based (version 1) UUID' : null;
  }

  private parse(text: string, fail: (reason: string) => never): string {
    const problem = this.problem(text);
    return problem === null ? text.toLowerCase() : fail(problem);
  }

  serialize(value: unknown): Buffer {
    if (typeof value !== 'string') throw this.invalid(value, 'expected a UUID string');
    const problem = this.problem(value);
    if (problem !== null) throw this.invalid(value, problem);
    return uuidToBytes(value);
  }

  deserialize(bytes: Buffer): string {
    expectLength(this, bytes, 16);
    if (this.timeBased && uuidVersion(bytes) !== 1) throw new InvalidRequest('Invalid version for TimeUUID type');
    return bytesToUuid(bytes);
  }

  compare(a: Buffer, b: Buffer): number {
    return this.timeBased ? compareTimeuuid(a, b) : compareUuid(a, b);
  }

  fromJson(json: unknown): string {
    if (typeof json !== 'string') throw this.invalid(json, 'expected a UUID string');
    return this.parse(json, (reason) => {
      throw this.invalid(json, reason);
    });
  }

  toJson(value: unknown): unknown {
    return value;
  }

  protected fromValueLiteral(literal: ValueLiteral): string {
    if (literal.kind !== 'uuid' && literal.kind !== 'string') this.rejectLiteral(literal);
    return this.parse(literal.text, (reason) => this.rejectLiteral(literal, reason));
  }

  toCqlString(value: unknown): string {
    return String(value);
  }

  /** A timeuuid is a uuid, and UUIDType orders version 1 UUIDs by time as TimeUUIDType does. */
  override isCompatibleWith(other: CqlType): boolean {
    return other === this || (!this.timeBased && other === timeuuid);
  }
}

// ---------------------------------------------------------------------------
// Calendar arithmetic (proleptic Gregorian, any year) shared by timestamp and date

const millisPerDay = 86_400_000;

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

const monthLengths = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function isValidDate(year: number, month: number, day: number): boolean {
  if (month < 1 || month > 12 || day < 1) return false;
  return day <= (month === 2 && isLeapYear(year) ? 29 : monthLengths[month - 1]!);
}

/** Days from 1970-01-01 to a date. Counts in 400-year eras of 146097 days, with years
 *  starting in March so that the leap day falls at the end of the counted year. */
function daysFromCivil(year: number, month: number, day: number): number {
  const marchYear = month <= 2 ? year - 1 : year;
  const era = Math.floor(marchYear / 400);
  const yearOfEra = marchYear - era * 400;
  const monthFromMarch = (month + 9) % 12;
  const dayOfYear = Math.floor((153 * monthFromMarch + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  // 719468 days separate 0000-03-01 (the start of era 0) from 1970-01-01.
  return era * 146_097 + dayOfEra - 719_468;
}

/** Inverse of daysFromCivil: [year, month, day]. */
function civilFromDays(days: number): [number, number, number] {
  const shifted = days + 719_468;
  const era = Math.floor(shifted / 146_097);
  const dayOfEra = shifted - era * 146_097;
  const yearOfEra = Math.floor(
    (dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365,
  );
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const monthFromMarch = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * monthFromMarch + 2) / 5) + 1;
  const month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9;
  return [yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day];
}

function pad(value: number | bigint, width: number): string {
  return String(value).padStart(width, '0');
}

/** Four digits for years 0-9999, else a sign (ISO 8601 expanded years). */
function formatYear(year: number): string {
  if (year < 0) return `-${pad(-year, 4)}`;
  return year > 9999 ? `+${year}` : pad(year, 4);
}

// ---------------------------------------------------------------------------
// timestamp

/** JavaScript Date's range, so every timestamp has an ISO-8601 rendering. */
const timestampMillisMax = 8_640_000_000_000_000;

/** The formats Cassandra accepts: date, optional time (minutes, seconds, milliseconds),
 *  'T' or space between, optional zone (Z, +hh, +hhmm, +hh:mm). */
const timestampPattern =
  /^([+-]?\d{4,})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?)?(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

/** Parses timestamp text to ms since the epoch. A string of digits is ms, as in
 *  Cassandra. Without a zone the time is UTC (Cassandra uses the server's zone; one fixed
 *  zone keeps every node and client in agreement). */
function parseTimestamp(text: string, fail: (reason: string) => never): number {
  let millis: number;
  if (integerPattern.test(text)) millis = Number(text);
  else {
    const match = timestampPattern.exec(text);
    if (match === null) return fail('not a valid timestamp (expected yyyy-mm-dd[ hh:mm[:ss[.fff]]][zone])');
    const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
    const [hours, minutes, seconds] = [Number(match[4] ?? 0), Number(match[5] ?? 0), Number(match[6] ?? 0)];
    if (!isValidDate(year, month, day) || hours > 23 || minutes > 59 || seconds > 59) return fail('no such date or time');
    const fractionMillis = Number((match[7] ?? '').padEnd(3, '0'));
    millis = daysFromCivil(year, month, day) * millisPerDay + ((hours * 60 + minutes) * 60 + seconds) * 1000 + fractionMillis;
    const zone = match[8];
    if (zone !== undefined && zone.toUpperCase() !== 'Z') {
      const zoneHours = Number(zone.slice(1, 3));
      const zoneMinutes = Number(zone.slice(3).replace(':', '') || 0);
      if (zoneHours > 23 || zoneMinutes > 59) return fail('invalid time zone offset');
      millis -= (zone[0] === '-' ? -1 : 1) * (zoneHours * 60 + zoneMinutes) * 60_000;
    }
  }
  if (!(Math.abs(millis) <= timestampMillisMax)) return fail('out of range');
  return millis;
}

/** timestamp: signed 64-bit ms since the epoch; JS number; JSON an ISO-8601 string. */
class TimestampType extends BaseType {
  serialize(value: unknown): Buffer {
    if (typeof value !== 'number' || !Number.isInteger(value)) throw this.invalid(value, 'expected integer milliseconds');
    if (Math.abs(value) > timestampMillisMax) throw this.invalid(value, 'out of range');
    const bytes = Buffer.allocUnsafe(8);
    // Split into two 32-bit halves: avoids a bigint per value on the write path.
    const high = Math.floor(value / 2 ** 32);
    bytes.writeInt32BE(high, 0);
    bytes.writeUInt32BE(value - high * 2 ** 32, 4);
    return bytes;
  }

  deserialize(bytes: Buffer): number {
    expectLength(this, bytes, 8);
    return bytes.readInt32BE(0) * 2 ** 32 + bytes.readUInt32BE(4);
  }

  compare(a: Buffer, b: Buffer): number {
    return compareInt64(a, b);
  }

  fromJson(json: unknown): number {
    const fail = (reason: string): never => {
      throw this.invalid(json, reason);
    };
    if (typeof json === 'string') return parseTimestamp(json, fail);
    if (typeof json !== 'number' || !Number.isInteger(json)) return fail('expected an ISO-8601 string or integer milliseconds');
    return Math.abs(json) <= timestampMillisMax ? json : fail('out of range');
  }

  toJson(value: unknown): unknown {
    return new Date(value as number).toISOString();
  }

  protected fromValueLiteral(literal: ValueLiteral): number {
    if (literal.kind !== 'integer' && literal.kind !== 'string') this.rejectLiteral(literal);
    return parseTimestamp(literal.text, (reason) => this.rejectLiteral(literal, reason));
  }

  toCqlString(value: unknown): string {
    return quote(new Date(value as number).toISOString());
  }
}

// ---------------------------------------------------------------------------
// date

/** date is stored as an unsigned 32-bit day number with the epoch at 2^31, so unsigned
 *  byte order is chronological. */
const dateEpochOffset = 2 ** 31;
const datePattern = /^([+-]?\d{4,})-(\d{2})-(\d{2})$/;
/** A plain number, which date and time read as their raw stored value. */
const digitsPattern = /^\d+$/;

/** Parses 'yyyy-mm-dd', or (as Cassandra does) a plain number taken as the raw unsigned
 *  stored value, epoch at 2^31. Returns days since the epoch. */
function parseDate(text: string, fail: (reason: string) => never): number {
  let days: number;
  if (digitsPattern.test(text)) days = Number(text) - dateEpochOffset;
  else {
    const match = datePattern.exec(text);
    if (match === null) return fail('not a valid date (expected yyyy-mm-dd)');
    const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
    if (!isValidDate(year, month, day)) return fail('no such date');
    days = daysFromCivil(year, month, day);
  }
  return days >= -dateEpochOffset && days < dateEpochOffset ? days : fail('out of range');
}

function formatDate(days: number): string {
  const [year, month, day] = civilFromDays(days);
  return `${formatYear(year)}-${pad(month, 2)}-${pad(day, 2)}`;
}

class DateType extends BaseType {
  serialize(value: unknown): Buffer {
    if (typeof value !== 'number' || !Number.isInteger(value)) throw this.invalid(value, 'expected integer days');
    if (value < -dateEpochOffset || value >= dateEpochOffset) throw this.invalid(value, 'out of range');
    const bytes = Buffer.allocUnsafe(4);
    bytes.writeUInt32BE(value + dateEpochOffset);
    return bytes;
  }

  deserialize(bytes: Buffer): number {
    expectLength(this, bytes, 4);
    return bytes.readUInt32BE(0) - dateEpochOffset;
  }

  compare(a: Buffer, b: Buffer): number {
    return a.readUInt32BE(0) - b.readUInt32BE(0);
  }

  fromJson(json: unknown): number {
    if (typeof json !== 'string') throw this.invalid(json, 'expected a yyyy-mm-dd string');
    return parseDate(json, (reason) => {
      throw this.invalid(json, reason);
    });
  }

  toJson(value: unknown): unknown {
    return formatDate(value as number);
  }

  protected fromValueLiteral(literal: ValueLiteral): number {
    if (literal.kind !== 'string' && literal.kind !== 'integer') this.rejectLiteral(literal);
    return parseDate(literal.text, (reason) => this.rejectLiteral(literal, reason));
  }

  toCqlString(value: unknown): string {
    return quote(formatDate(value as number));
  }
}

// ---------------------------------------------------------------------------
// time

const nanosPerSecond = 1_000_000_000n;
const nanosPerDay = 86_400n * nanosPerSecond;
const timePattern = /^(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?$/;

/** Parses 'hh:mm:ss[.fffffffff]', or a plain number of nanoseconds (as Cassandra does). */
function parseTime(text: string, fail: (reason: string) => never): bigint {
  let nanos: bigint;
  if (digitsPattern.test(text)) nanos = BigInt(text);
  else {
    const match = timePattern.exec(text);
    if (match === null) return fail('not a valid time (expected hh:mm:ss[.fffffffff])');
    const [hours, minutes, seconds] = [Number(match[1]), Number(match[2]), Number(match[3])];
    if (hours > 23 || minutes > 59 || seconds > 59) return fail('no such time');
    nanos = BigInt((hours * 60 + minutes) * 60 + seconds) * nanosPerSecond + BigInt((match[4] ?? '').padEnd(9, '0'));
  }
  return nanos < nanosPerDay ? nanos : fail('out of range');
}

function formatTime(nanos: bigint): string {
  const seconds = Number(nanos / nanosPerSecond);
  const fraction = nanos % nanosPerSecond;
  return `${pad(Math.floor(seconds / 3600), 2)}:${pad(Math.floor(seconds / 60) % 60, 2)}:${pad(seconds % 60, 2)}.${pad(fraction, 9)}`;
}

/** time: signed 64-bit nanoseconds since midnight; JS bigint. */
class TimeType extends BaseType {
  serialize(value: unknown): Buffer {
    if (typeof value !== 'bigint') throw this.invalid(value, 'expected bigint nanoseconds');
    if (value < 0n || value >= nanosPerDay) throw this.invalid(value, 'out of range');
    const bytes = Buffer.allocUnsafe(8);
    bytes.writeBigInt64BE(value);
    return bytes;
  }

  deserialize(bytes: Buffer): bigint {
    expectLength(this, bytes, 8);
    return bytes.readBigInt64BE(0);
  }

  compare(a: Buffer, b: Buffer): number {
    return compareInt64(a, b);
  }

  fromJson(json: unknown): bigint {
    if (typeof json !== 'string') throw this.invalid(json, 'expected an hh:mm:ss.fffffffff string');
    return parseTime(json, (reason) => {
      throw this.invalid(json, reason);
    });
  }

  toJson(value: unknown): unknown {
    return formatTime(value as bigint);
  }

  protected fromValueLiteral(literal: ValueLiteral): bigint {
    if (literal.kind !== 'string' && literal.kind !== 'integer') this.rejectLiteral(literal);
    return parseTime(literal.text, (reason) => this.rejectLiteral(literal, reason));
  }

  toCqlString(value: unknown): string {
    return quote(formatTime(value as bigint));
  }
}

// ---------------------------------------------------------------------------
// inet

const ipv4Pattern = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const ipv6GroupPattern = /^[0-9a-fA-F]{1,4}$/;

function parseIpv4(text: string): number[] | null {
  const match = ipv4Pattern.exec(text);
  if (match === null) return null;
  const octets = match.slice(1).map(Number);
  return octets.every((octet) => octet <= 255) ? octets : null;
}

/** The 16-bit groups of one side of '::'; a dotted IPv4 tail counts as two groups and is
 *  allowed only at the very end of the address. */
function ipv6Groups(part: string, endsAddress: boolean): number[] | null {
  if (part === '') return [];
  const pieces = part.split(':');
  const groups: number[] = [];
  for (let i = 0; i < pieces.length; i++) {
    const piece = pieces[i]!;
    if (ipv6GroupPattern.test(piece)) groups.push(parseInt(piece, 16));
    else {
      const octets = endsAddress && i === pieces.length - 1 ? parseIpv4(piece) : null;
      if (octets === null) return null;
      groups.push((octets[0]! << 8) | octets[1]!, (octets[2]! << 8) | octets[3]!);
    }
  }
  return groups;
}

/** An IPv4 (4 bytes) or IPv6 (16 bytes) address from its text; null if it is neither.
 *  No name resolution: a host name is not an address. */
function parseInet(text: string): Buffer | null {
  if (!text.includes(':')) {
    const octets = parseIpv4(text);
    return octets === null ? null : Buffer.from(octets);
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const head = ipv6Groups(halves[0]!, halves.length === 1);
  const tail = halves.length === 2 ? ipv6Groups(halves[1]!, true) : [];
  if (head === null || tail === null) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const groups = [...head, ...new Array<number>(halves.length === 1 ? 0 : missing).fill(0), ...tail];
  const bytes = Buffer.allocUnsafe(16);
  groups.forEach((group, i) => bytes.writeUInt16BE(group, i * 2));
  return bytes;
}

/** RFC 5952 text: lower case, no leading zeros, the longest run of two or more zero
 *  groups (the first, on a tie) written as '::'. */
function formatIpv6(bytes: Buffer): string {
  const groups = Array.from({ length: 8 }, (_, i) => bytes.readUInt16BE(i * 2));
  let runStart = -1;
  let runLength = 1;
  for (let i = 0; i < 8; ) {
    let end = i;
    while (end < 8 && groups[end] === 0) end++;
    if (end - i > runLength) [runStart, runLength] = [i, end - i];
    i = end === i ? i + 1 : end;
  }
  const hex = (part: number[]): string => part.map((group) => group.toString(16)).join(':');
  if (runStart < 0) return hex(groups);
  return `${hex(groups.slice(0, runStart))}::${hex(groups.slice(runStart + runLength))}`;
}

class InetType extends BaseType {
  private parse(text: string, fail: (reason: string) => never): string {
    const bytes = parseInet(text);
    return bytes === null ? fail('not an IPv4 or IPv6 address') : this.deserialize(bytes);
  }

  serialize(value: unknown): Buffer {
    const bytes = typeof value === 'string' ? parseInet(value) : null;
    if (bytes === null) throw this.invalid(value, 'expected an IPv4 or IPv6 address');
    return bytes;
  }

  deserialize(bytes: Buffer): string {
    if (bytes.length === 4) return Array.from(bytes).join('.');
    if (bytes.length === 16) return formatIpv6(bytes);
    throw new InvalidRequest(`Expected 4 or 16 bytes for an inet value, got ${bytes.length}`);
  }

  compare(a: Buffer, b: Buffer): number {
    return Buffer.compare(a, b);
  }

  fromJson(json: unknown): string {
    const fail = (reason: string): never => {
      throw this.invalid(json, reason);
    };
    return typeof json === 'string' ? this.parse(json, fail) : fail('expected an address string');
  }

  toJson(value: unknown): unknown {
    return value;
  }

  protected fromValueLiteral(literal: ValueLiteral): string {
    if (literal.kind !== 'string') this.rejectLiteral(literal);
    return this.parse(literal.text, (reason) => this.rejectLiteral(literal, reason));
  }

  toCqlString(value: unknown): string {
    return quote(value as string);
  }
}

// ---------------------------------------------------------------------------
// duration

/** A duration value: months and days are int32, nanoseconds int64, all of one sign
 *  (months and days are kept apart because their length in time varies). */
export interface Duration {
  months: number;
  days: number;
  nanoseconds: bigint;
}

const int32Max = 2 ** 31 - 1;

type DurationField = keyof Duration;

/** The units of the `1h30m` form; each adds `factor` to one field. */
const durationUnits: Readonly<Record<string, { field: DurationField; factor: bigint }>> = {
  y: { field: 'months', factor: 12n },
  mo: { field: 'months', factor: 1n },
  w: { field: 'days', factor: 7n },
  d: { field: 'days', factor: 1n },
  h: { field: 'nanoseconds', factor: 3600n * nanosPerSecond },
  m: { field: 'nanoseconds', factor: 60n * nanosPerSecond },
  s: { field: 'nanoseconds', factor: nanosPerSecond },
  ms: { field: 'nanoseconds', factor: 1_000_000n },
  us: { field: 'nanoseconds', factor: 1000n },
  µs: { field: 'nanoseconds', factor: 1000n },
  ns: { field: 'nanoseconds', factor: 1n },
};
/** Longer units first so that `ms` is not read as `m` followed by `s`. */
const durationUnitPattern = /(\d+)(mo|ms|us|µs|ns|y|w|d|h|m|s)/iy;
const isoDurationPattern = /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/i;
const isoWeeksPattern = /^P(\d+)W$/i;
const isoAlternativePattern = /^P(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})$/i;

/** Parses the three duration forms Cassandra accepts: `1y2mo3w4d5h6m7s8ms9us10ns`,
 *  ISO 8601 `P1Y2M3DT4H5M6S` / `P3W`, and the alternative `P0001-02-03T04:05:06`; each
 *  with an optional leading '-'. */
function parseDuration(text: string, fail: (reason: string) => never): Duration {
  const negative = text.startsWith('-');
  const body = negative ? text.slice(1) : text;
  const sums = { months: 0n, days: 0n, nanoseconds: 0n };
  const add = (digits: string | undefined, unitName: string): void => {
    if (digits === undefined) return;
    // Case-insensitive matching can let through a look-alike (Greek 'Μs' for 'µs').
    const unit = Object.hasOwn(durationUnits, unitName) ? durationUnits[unitName]! : fail(`unknown unit ${unitName}`);
    sums[unit.field] += BigInt(digits) * unit.factor;
  };
  const iso = isoDurationPattern.exec(body);
  const weeks = isoWeeksPattern.exec(body);
  const alternative = isoAlternativePattern.exec(body);
  if (iso !== null) {
    // 'P', 'PT' and a trailing 'T' name no component at all.
    if (iso.slice(1).every((part) => part === undefined) || /T$/i.test(body)) return fail('not a valid duration');
    ['y', 'mo', 'd', 'h', 'm', 's'].forEach((unit, i) => add(iso[i + 1], unit));
  } else if (weeks !== null) {
    add(weeks[1], 'w');
  } else if (alternative !== null) {
    ['y', 'mo', 'd', 'h', 'm', 's'].forEach((unit, i) => add(alternative[i + 1], unit));
  } else {
    if (body === '') return fail('not a valid duration');
    durationUnitPattern.lastIndex = 0;
    while (durationUnitPattern.lastIndex < body.length) {
      const match = durationUnitPattern.exec(body);
      if (match === null) return fail('not a valid duration');
      add(match[1], match[2]!.toLowerCase());
    }
  }
  if (sums.months > BigInt(int32Max) || sums.days > BigInt(int32Max) || sums.nanoseconds > int64Max) {
    return fail('out of range');
  }
  const sign = negative ? -1n : 1n;
  return { months: Number(sums.months * sign), days: Number(sums.days * sign), nanoseconds: sums.nanoseconds * sign };
}

const nanosecondUnits: readonly [string, bigint][] = [
  ['h', 3600n * nanosPerSecond],
  ['m', 60n * nanosPerSecond],
  ['s', nanosPerSecond],
  ['ms', 1_000_000n],
  ['us', 1000n],
  ['ns', 1n],
];

/** Cassandra's rendering: `1y2mo3d4h5m6s7ms8us9ns`, zero components left out. */
function formatDuration({ months, days, nanoseconds }: Duration): string {
  const negative = months < 0 || days < 0 || nanoseconds < 0n;
  const absoluteMonths = Math.abs(months);
  let rest = nanoseconds < 0n ? -nanoseconds : nanoseconds;
  let text = '';
  if (absoluteMonths >= 12) text += `${Math.floor(absoluteMonths / 12)}y`;
  if (absoluteMonths % 12 !== 0) text += `${absoluteMonths % 12}mo`;
  if (days !== 0) text += `${Math.abs(days)}d`;
  for (const [unit, size] of nanosecondUnits) {
    if (rest >= size) {
      text += `${rest / size}${unit}`;
      rest %= size;
    }
  }
  return text === '' ? '0s' : negative ? `-${text}` : text;
}

/** Zig-zag maps signed to unsigned so that small magnitudes of either sign stay short. */
function zigZag(value: bigint): bigint {
  return value < 0n ? -2n * value - 1n : 2n * value;
}

function unZigZag(value: bigint): bigint {
  return value & 1n ? -(value >> 1n) - 1n : value >> 1n;
}

/** Cassandra's unsigned vint: the count of leading 1 bits in the first byte is the number
 *  of extra bytes; the value's remaining high bits follow in the first byte. */
function writeUnsignedVint(value: bigint, out: number[]): void {
  const bitLength = value === 0n ? 0 : value.toString(2).length;
  const extraBytes = bitLength <= 7 ? 0 : Math.min(8, Math.ceil((bitLength - 7) / 7));
  out.push(((0xff00 >> extraBytes) & 0xff) | Number(value >> BigInt(8 * extraBytes)));
  for (let i = extraBytes - 1; i >= 0; i--) out.push(Number((value >> BigInt(8 * i)) & 0xffn));
}

function readUnsignedVint(bytes: Buffer, offset: number): [value: bigint, next: number] {
  if (offset >= bytes.length) throw new InvalidRequest('Truncated duration value');
  const first = bytes[offset]!;
  const extraBytes = Math.clz32(~(first << 24));
  if (offset + extraBytes >= bytes.length) throw new InvalidRequest('Truncated duration value');
  let value = BigInt(first & (0xff >> extraBytes));
  for (let i = 1; i <= extraBytes; i++) value = (value << 8n) | BigInt(bytes[offset + i]!);
  return [value, offset + 1 + extraBytes];
}

function isDuration(value: unknown): value is Duration {
  if (typeof value !== 'object' || value === null) return false;
  const { months, days, nanoseconds } = value as Partial<Duration>;
  return (
    Number.isInteger(months) &&
    Math.abs(months!) <= int32Max &&
    Number.isInteger(days) &&
    Math.abs(days!) <= int32Max &&
    typeof nanoseconds === 'bigint' &&
    nanoseconds >= int64Min &&
    nanoseconds <= int64Max
  );
}

/** duration: three zig-zag vints (months, days, nanoseconds). Durations have no natural
 *  order (is 1mo more than 30d?): typeFromSpec keeps them out of set elements and map
 *  keys, and compare is plain byte order, only to be deterministic. */
class DurationType extends BaseType {
  serialize(value: unknown): Buffer {
    if (!isDuration(value)) throw this.invalid(value, 'expected {months, days, nanoseconds}');
    const signs = [Math.sign(value.months), Math.sign(value.days), Number(value.nanoseconds > 0n) - Number(value.nanoseconds < 0n)];
    if (signs.includes(1) && signs.includes(-1)) throw this.invalid(value, 'months, days and nanoseconds must all have the same sign');
    const out: number[] = [];
    writeUnsignedVint(zigZag(BigInt(value.months)), out);
    writeUnsignedVint(zigZag(BigInt(value.days)), out);
    writeUnsignedVint(zigZag(value.nanoseconds), out);
    return Buffer.from(out);
  }

  deserialize(bytes: Buffer): Duration {
    const [months, afterMonths] = readUnsignedVint(bytes, 0);
    const [days, afterDays] = readUnsignedVint(bytes, afterMonths);
    const [nanoseconds, end] = readUnsignedVint(bytes, afterDays);
    if (end !== bytes.length) throw new InvalidRequest('Trailing bytes after a duration value');
    return { months: Number(unZigZag(months)), days: Number(unZigZag(days)), nanoseconds: unZigZag(nanoseconds) };
  }

  compare(a: Buffer, b: Buffer): number {
    return Buffer.compare(a, b);
  }

  fromJson(json: unknown): Duration {
    const fail = (reason: string): never => {
      throw this.invalid(json, reason);
    };
    return typeof json === 'string' ? parseDuration(json, fail) : fail('expected a duration string such as 1h30m');
  }

  toJson(value: unknown): unknown {
    return formatDuration(value as Duration);
  }

  protected fromValueLiteral(literal: ValueLiteral): Duration {
    if (literal.kind !== 'duration' && literal.kind !== 'string') this.rejectLiteral(literal);
    return parseDuration(literal.text, (reason) => this.rejectLiteral(literal, reason));
  }

  toCqlString(value: unknown): string {
    return formatDuration(value as Duration);
  }
}

// ---------------------------------------------------------------------------
// The native singletons

const ascii = new StringType('ascii', true);
const text = new StringType('text', false);
const int = new FixedIntType('int', 4);
const smallint = new FixedIntType('smallint', 2);
const tinyint = new FixedIntType('tinyint', 1);
const bigint = new Int64Type('bigint');
const counter = new Int64Type('counter');
const varint = new VarintType('varint');
const float = new FloatingType('float', 4);
const double = new FloatingType('double', 8);
const decimal = new DecimalType('decimal');
const boolean = new BooleanType('boolean');
const uuid = new UuidType('uuid', false);
const timeuuid = new UuidType('timeuuid', true);
const timestamp = new TimestampType('timestamp');
const date = new DateType('date');
const time = new TimeType('time');
const blob = new BlobType('blob');
const inet = new InetType('inet');
const duration = new DurationType('duration');

const nativeTypeTable = {
  ascii,
  bigint,
  blob,
  boolean,
  counter,
  date,
  decimal,
  double,
  duration,
  float,
  inet,
  int,
  smallint,
  text,
  time,
  timestamp,
  timeuuid,
  tinyint,
  uuid,
  varchar: text,
  varint,
};

export type NativeTypeName = keyof typeof nativeTypeTable;

/** The native types by CQL name; `varchar` is another name for `text` (same instance). */
export const nativeTypes: Readonly<Record<NativeTypeName, CqlType>> = Object.freeze(nativeTypeTable);

// ---------------------------------------------------------------------------
// Collections and tuples

/**
 * Frozen collection layout (also the whole-value form of a non-frozen one):
 * int32 element count, then each element as int32 length + bytes; a map's elements
 * alternate key, value.
 */
function packCollection(count: number, parts: readonly Buffer[]): Buffer {
  let size = 4;
  for (const part of parts) size += 4 + part.length;
  const out = Buffer.allocUnsafe(size);
  out.writeInt32BE(count, 0);
  let offset = 4;
  for (const part of parts) {
    out.writeInt32BE(part.length, offset);
    part.copy(out, offset + 4);
    offset += 4 + part.length;
  }
  return out;
}

function unpackCollection(type: CqlType, bytes: Buffer, partsPerElement: 1 | 2): Buffer[] {
  const malformed = (): InvalidRequest => new InvalidRequest(`Malformed ${type.name} value (${bytes.length} bytes)`);
  if (bytes.length < 4) throw malformed();
  const count = bytes.readInt32BE(0);
  if (count < 0) throw malformed();
  const parts: Buffer[] = [];
  let offset = 4;
  for (let i = 0; i < count * partsPerElement; i++) {
    if (offset + 4 > bytes.length) throw malformed();
    const length = bytes.readInt32BE(offset);
    offset += 4;
    if (length < 0 || offset + length > bytes.length) throw malformed();
    parts.push(bytes.subarray(offset, offset + length));
    offset += length;
  }
  if (offset !== bytes.length) throw malformed();
  return parts;
}

/** Element by element with the element comparators (a map alternates key, value), then
 *  the shorter collection first. Walks both values without unpacking them. */
function compareCollections(a: Buffer, b: Buffer, comparators: readonly CqlType[]): number {
  const aCount = a.readInt32BE(0);
  const bCount = b.readInt32BE(0);
  const parts = Math.min(aCount, bCount) * comparators.length;
  let aOffset = 4;
  let bOffset = 4;
  for (let i = 0; i < parts; i++) {
    const aLength = a.readInt32BE(aOffset);
    const bLength = b.readInt32BE(bOffset);
    aOffset += 4;
    bOffset += 4;
    const order = comparators[i % comparators.length]!.compare(
      a.subarray(aOffset, aOffset + aLength),
      b.subarray(bOffset, bOffset + bLength),
    );
    if (order !== 0) return order;
    aOffset += aLength;
    bOffset += bLength;
  }
  return aCount - bCount;
}

function isStrictlyAscending(type: CqlType, keys: readonly Buffer[]): boolean {
  for (let i = 1; i < keys.length; i++) if (type.compare(keys[i - 1]!, keys[i]!) >= 0) return false;
  return true;
}

/** Indexes of `keys` in `type`'s order without duplicates; of equal keys the last one
 *  wins, as a later entry of a map literal overwrites an earlier one. */
function sortedDistinctIndexes(type: CqlType, keys: readonly Buffer[]): number[] {
  const order = keys.map((_, i) => i).sort((x, y) => type.compare(keys[x]!, keys[y]!) || x - y);
  const kept: number[] = [];
  for (const index of order) {
    if (kept.length > 0 && type.compare(keys[kept[kept.length - 1]!]!, keys[index]!) === 0) kept[kept.length - 1] = index;
    else kept.push(index);
  }
  return kept;
}

/** Converts one collection element literal, naming its place (`role`) in errors. */
function elementFromLiteral(type: CqlType, literal: Literal, role: string): unknown {
  if (literal.kind === 'null') throw new InvalidRequest(nullInCollection);
  return fieldFromLiteral(type, literal, role);
}

/** As elementFromLiteral, for a tuple field, which may be null. */
function fieldFromLiteral(type: CqlType, literal: Literal, role: string): unknown {
  try {
    return type.fromLiteral(literal);
  } catch (error) {
    throw error instanceof InvalidLiteral ? error.within(role) : error;
  }
}

function expectArray(type: CqlType, value: unknown): unknown[] {
  if (!Array.isArray(value)) throw invalidValue(type.name, value, 'expected an array');
  return value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);
}

class ListType extends BaseType {
  constructor(
    name: string,
    readonly element: BaseType,
    multiCell: boolean,
  ) {
    super(name, 'list', [element], multiCell);
  }

  override frozen(): CqlType {
    return this.multiCell ? listOf(this.element, false) : this;
  }

  serialize(value: unknown): Buffer {
    const items = expectArray(this, value);
    return packCollection(
      items.length,
      items.map((item) => this.element.serialize(notNull(item))),
    );
  }

  deserialize(bytes: Buffer): unknown[] {
    return unpackCollection(this, bytes, 1).map((part) => this.element.deserialize(part));
  }

  compare(a: Buffer, b: Buffer): number {
    return compareCollections(a, b, this.params);
  }

  fromJson(json: unknown): unknown[] {
    return expectArray(this, json).map((item) => this.element.fromJson(notNull(item)));
  }

  toJson(value: unknown): unknown {
    return (value as unknown[]).map((item) => this.element.toJson(item));
  }

  protected fromValueLiteral(literal: ValueLiteral): unknown[] {
    if (literal.kind !== 'list') this.rejectLiteral(literal);
    return literal.items.map((item) => elementFromLiteral(this.element, item, 'value(%)'));
  }

  toCqlString(value: unknown): string {
    return `[${(value as unknown[]).map((item) => this.element.toCqlString(item)).join(', ')}]`;
  }

  override isCompatibleWith(other: CqlType): boolean {
    return (
      other === this ||
      (other instanceof ListType && other.multiCell === this.multiCell && this.element.isCompatibleWith(other.element))
    );
  }
}

class SetType extends BaseType {
  constructor(
    name: string,
    readonly element: BaseType,
    multiCell: boolean,
  ) {
    super(name, 'set', [element], multiCell);
  }

  override frozen(): CqlType {
    return this.multiCell ? setOf(this.element, false) : this;
  }

  /** The elements in the element type's order, without duplicates. */
  private canonical(items: unknown[]): unknown[] {
    const keys = items.map((item) => this.element.serialize(item));
    return isStrictlyAscending(this.element, keys) ? items : sortedDistinctIndexes(this.element, keys).map((i) => items[i]);
  }

  serialize(value: unknown): Buffer {
    const keys = expectArray(this, value).map((item) => this.element.serialize(notNull(item)));
    const parts = isStrictlyAscending(this.element, keys)
      ? keys
      : sortedDistinctIndexes(this.element, keys).map((i) => keys[i]!);
    return packCollection(parts.length, parts);
  }

  deserialize(bytes: Buffer): unknown[] {
    return unpackCollection(this, bytes, 1).map((part) => this.element.deserialize(part));
  }

  compare(a: Buffer, b: Buffer): number {
    return compareCollections(a, b, this.params);
  }

  fromJson(json: unknown): unknown[] {
    return this.canonical(expectArray(this, json).map((item) => this.element.fromJson(notNull(item))));
  }

  toJson(value: unknown): unknown {
    return (value as unknown[]).map((item) => this.element.toJson(item));
  }

  protected fromValueLiteral(literal: ValueLiteral): unknown[] {
    if (literal.kind === 'emptyBraces') return [];
    if (literal.kind !== 'set') this.rejectLiteral(literal);
    return this.canonical(
      literal.items.map((item) => elementFromLiteral(this.element, item, 'value(%)')),
    );
  }

  toCqlString(value: unknown): string {
    return `{${(value as unknown[]).map((item) => this.element.toCqlString(item)).join(', ')}}`;
  }

  override isCompatibleWith(other: CqlType): boolean {
    return (
      other === this ||
      (other instanceof SetType && other.multiCell === this.multiCell && this.element.isCompatibleWith(other.element))
    );
  }
}

type Entry = [key: unknown, value: unknown];

/** map: the JS value is an array of [key, value] pairs in key order. */
class MapType extends BaseType {
  constructor(
    name: string,
    readonly key: BaseType,
    readonly value: BaseType,
    multiCell: boolean,
  ) {
    super(name, 'map', [key, value], multiCell);
  }

  override frozen(): CqlType {
    return this.multiCell ? mapOf(this.key, this.value, false) : this;
  }

  private entries(value: unknown): Entry[] {
    const entries = expectArray(this, value);
    if (!entries.every((entry) => Array.isArray(entry) && entry.length === 2)) {
      throw this.invalid(value, 'expected an array of [key, value] pairs');
    }
    return entries as Entry[];
  }

  /** The entries in key order, a repeated key keeping its last value. */
  private canonical(entries: Entry[]): Entry[] {
    const keys = entries.map(([key]) => this.key.serialize(key));
    return isStrictlyAscending(this.key, keys) ? entries : sortedDistinctIndexes(this.key, keys).map((i) => entries[i]!);
  }

  serialize(value: unknown): Buffer {
    const entries = this.entries(value);
    const keys = entries.map(([key]) => this.key.serialize(notNull(key)));
    const order = isStrictlyAscending(this.key, keys) ? keys.map((_, i) => i) : sortedDistinctIndexes(this.key, keys);
    const parts: Buffer[] = [];
    for (const i of order) parts.push(keys[i]!, this.value.serialize(notNull(entries[i]![1])));
    return packCollection(order.length, parts);
  }

  deserialize(bytes: Buffer): Entry[] {
    const parts = unpackCollection(this, bytes, 2);
    const entries: Entry[] = [];
    for (let i = 0; i < parts.length; i += 2) {
      entries.push([this.key.deserialize(parts[i]!), this.value.deserialize(parts[i + 1]!)]);
    }
    return entries;
  }

  compare(a: Buffer, b: Buffer): number {
    return compareCollections(a, b, this.params);
  }

  /** An object keyed by each key's JSON text, or an array of [key, value] pairs. */
  fromJson(json: unknown): Entry[] {
    let entries: Entry[];
    if (Array.isArray(json)) {
      entries = this.entries(json).map(([key, value]) => [this.key.fromJson(notNull(key)), this.value.fromJson(notNull(value))]);
    } else if (isPlainObject(json)) {
      entries = Object.entries(json).map(([key, value]) => [this.key.fromJsonKey(key), this.value.fromJson(notNull(value))]);
    } else {
      throw this.invalid(json, 'expected an object or an array of [key, value] pairs');
    }
    return this.canonical(entries);
  }

  toJson(value: unknown): unknown {
    // fromEntries defines properties, so even a key named "__proto__" stays a plain key.
    return Object.fromEntries((value as Entry[]).map(([key, item]) => [this.key.jsonKey(key), this.value.toJson(item)]));
  }

  protected fromValueLiteral(literal: ValueLiteral): Entry[] {
    if (literal.kind === 'emptyBraces') return [];
    if (literal.kind !== 'map') this.rejectLiteral(literal);
    return this.canonical(
      literal.entries.map(([key, value]): Entry => [
        elementFromLiteral(this.key, key, 'key(%)'),
        elementFromLiteral(this.value, value, 'value(%)'),
      ]),
    );
  }

  toCqlString(value: unknown): string {
    const entries = (value as Entry[]).map(([key, item]) => `${this.key.toCqlString(key)}: ${this.value.toCqlString(item)}`);
    return `{${entries.join(', ')}}`;
  }

  override isCompatibleWith(other: CqlType): boolean {
    return (
      other === this ||
      (other instanceof MapType &&
        other.multiCell === this.multiCell &&
        this.key.isCompatibleWith(other.key) &&
        this.value.isCompatibleWith(other.value))
    );
  }
}

/**
 * tuple: always frozen. Serialized as each field's int32 length + bytes, length -1 for
 * null, with no count (protocol v4 §6); trailing fields may be missing and read as null.
 * The JS value is an array with null for a missing field.
 */
class TupleType extends BaseType {
  constructor(
    name: string,
    readonly fields: readonly BaseType[],
  ) {
    super(name, 'tuple', fields);
  }

  private items(value: unknown): unknown[] {
    const items = expectArray(this, value);
    if (items.length > this.fields.length) {
      throw this.invalid(value, `expected at most ${this.fields.length} fields, got ${items.length}`);
    }
    return items;
  }

  serialize(value: unknown): Buffer {
    const items = this.items(value);
    const parts = this.fields.map((field, i) => (items[i] === null || items[i] === undefined ? null : field.serialize(items[i])));
    let size = 0;
    for (const part of parts) size += 4 + (part?.length ?? 0);
    const out = Buffer.allocUnsafe(size);
    let offset = 0;
    for (const part of parts) {
      out.writeInt32BE(part === null ? -1 : part.length, offset);
      offset += 4;
      if (part !== null) offset += part.copy(out, offset);
    }
    return out;
  }

  deserialize(bytes: Buffer): unknown[] {
    const values: unknown[] = [];
    let offset = 0;
    for (const field of this.fields) {
      if (offset === bytes.length) {
        values.push(null);
        continue;
      }
      if (offset + 4 > bytes.length) throw new InvalidRequest(`Malformed ${this.name} value`);
      const length = bytes.readInt32BE(offset);
      offset += 4;
      if (length < 0) {
        values.push(null);
        continue;
      }
      if (offset + length > bytes.length) throw new InvalidRequest(`Malformed ${this.name} value`);
      values.push(field.deserialize(bytes.subarray(offset, offset + length)));
      offset += length;
    }
    if (offset !== bytes.length) throw new InvalidRequest(`Malformed ${this.name} value`);
    return values;
  }

  /** Field by field, a null field before any value; a value with fields left over sorts after. */
  compare(a: Buffer, b: Buffer): number {
    let aOffset = 0;
    let bOffset = 0;
    for (const field of this.fields) {
      if (aOffset >= a.length || bOffset >= b.length) break;
      const aLength = a.readInt32BE(aOffset);
      const bLength = b.readInt32BE(bOffset);
      aOffset += 4;
      bOffset += 4;
      if (aLength < 0 || bLength < 0) {
        if (aLength < 0 && bLength < 0) continue;
        return aLength < 0 ? -1 : 1;
      }
      const order = field.compare(a.subarray(aOffset, aOffset + aLength), b.subarray(bOffset, bOffset + bLength));
      if (order !== 0) return order;
      aOffset += aLength;
      bOffset += bLength;
    }
    return Number(aOffset < a.length) - Number(bOffset < b.length);
  }

  fromJson(json: unknown): unknown[] {
    const items = this.items(json);
    return this.fields.map((field, i) => (items[i] === null || items[i] === undefined ? null : field.fromJson(items[i])));
  }

  toJson(value: unknown): unknown {
    return (value as unknown[]).map((item, i) => (item === null ? null : this.fields[i]!.toJson(item)));
  }

  protected fromValueLiteral(literal: ValueLiteral): unknown[] {
    if (literal.kind !== 'tuple') this.rejectLiteral(literal);
    if (literal.items.length > this.fields.length) {
      this.rejectLiteral(literal, `too many elements: expected at most ${this.fields.length}, got ${literal.items.length}`);
    }
    return this.fields.map((field, i) => {
      const item = literal.items[i];
      return item === undefined ? null : fieldFromLiteral(field, item, `%[${i}]`);
    });
  }

  toCqlString(value: unknown): string {
    return `(${(value as unknown[]).map((item, i) => (item === null ? 'null' : this.fields[i]!.toCqlString(item))).join(', ')})`;
  }

  override isCompatibleWith(other: CqlType): boolean {
    return (
      other === this ||
      (other instanceof TupleType &&
        other.fields.length === this.fields.length &&
        this.fields.every((field, i) => field.isCompatibleWith(other.fields[i]!)))
    );
  }
}

// ---------------------------------------------------------------------------
// The factory

/** Composite types by canonical name. Bounded: casts in statements can name arbitrary
 *  types, and past the bound a type is simply built again each time. */
const compositeTypes = new Map<string, BaseType>();
const compositeTypesCountMax = 10_000;

function cachedType(name: string, build: (name: string) => BaseType): BaseType {
  let type = compositeTypes.get(name);
  if (type === undefined) {
    type = build(name);
    if (compositeTypes.size < compositeTypesCountMax) compositeTypes.set(name, type);
  }
  return type;
}

function collectionName(kind: 'list' | 'set' | 'map', params: readonly CqlType[], multiCell: boolean): string {
  const name = `${kind}<${params.map((param) => param.name).join(', ')}>`;
  return multiCell ? name : `frozen<${name}>`;
}

function listOf(element: BaseType, multiCell: boolean): BaseType {
  return cachedType(collectionName('list', [element], multiCell), (name) => new ListType(name, element, multiCell));
}

function setOf(element: BaseType, multiCell: boolean): BaseType {
  return cachedType(collectionName('set', [element], multiCell), (name) => new SetType(name, element, multiCell));
}

function mapOf(key: BaseType, value: BaseType, multiCell: boolean): BaseType {
  return cachedType(collectionName('map', [key, value], multiCell), (name) => new MapType(name, key, value, multiCell));
}

function tupleOf(fields: BaseType[]): BaseType {
  // Cassandra spells tuple columns frozen<tuple<…>> in its schema tables.
  const name = `frozen<tuple<${fields.map((field) => field.name).join(', ')}>>`;
  return cachedType(name, () => new TupleType(name, fields));
}

/** True when a value of `type` contains a duration somewhere. Durations have no order,
 *  so such types cannot be set elements, map keys — or primary key columns. */
export function referencesDuration(type: CqlType): boolean {
  return type === duration || type.params.some(referencesDuration);
}

/** The type as written, for messages. */
function specText(spec: TypeSpec): string {
  return spec.params.length === 0 ? spec.name : `${spec.name}<${spec.params.map(specText).join(', ')}>`;
}

function expectParams(spec: TypeSpec, count: number): void {
  if (spec.params.length !== count) {
    throw new InvalidRequest(
      `Invalid type ${specText(spec)}: ${spec.name} takes ${count} type parameter${count === 1 ? '' : 's'}, got ${spec.params.length}`,
    );
  }
}

const freezable = new Set(['list', 'set', 'map', 'tuple', 'frozen']);

/**
 * Builds the type a TypeSpec names, with Cassandra's rules: collections nested in
 * collections must be frozen, `frozen<>` applies to collections and tuples only and
 * freezes everything inside, tuples are always frozen (so they freeze their fields),
 * counters cannot be elements, and durations cannot be set elements or map keys.
 */
export function typeFromSpec(spec: TypeSpec): CqlType {
  return resolve(spec, false);
}

function resolve(spec: TypeSpec, frozen: boolean): BaseType {
  const name = spec.name.toLowerCase();
  const params = spec.params;
  switch (name) {
    case 'frozen': {
      expectParams(spec, 1);
      const inner = params[0]!;
      if (!freezable.has(inner.name.toLowerCase())) {
        throw new InvalidRequest(
          `frozen<> is only allowed on collections, tuples, and user-defined types (got ${specText(inner)})`,
        );
      }
      return resolve(inner, true);
    }
    case 'list':
      expectParams(spec, 1);
      return listOf(resolveElement(spec, params[0]!, frozen), !frozen);
    case 'set': {
      expectParams(spec, 1);
      const element = resolveElement(spec, params[0]!, frozen);
      if (referencesDuration(element)) throw new InvalidRequest(`Durations are not allowed inside sets: ${specText(spec)}`);
      return setOf(element, !frozen);
    }
    case 'map': {
      expectParams(spec, 2);
      const key = resolveElement(spec, params[0]!, frozen);
      if (referencesDuration(key)) throw new InvalidRequest(`Durations are not allowed as map keys: ${specText(spec)}`);
      return mapOf(key, resolveElement(spec, params[1]!, frozen), !frozen);
    }
    case 'tuple': {
      if (params.length === 0) throw new InvalidRequest(`Invalid type ${specText(spec)}: tuple takes at least 1 type parameter`);
      const fields = params.map((param) => resolve(param, true));
      if (fields.includes(counter)) throw new InvalidRequest(`Counters are not allowed inside tuples: ${specText(spec)}`);
      return tupleOf(fields);
    }
    default: {
      if (!Object.hasOwn(nativeTypeTable, name)) throw new InvalidRequest(`Unknown type ${spec.name}`);
      if (params.length > 0) throw new InvalidRequest(`Invalid type ${specText(spec)}: ${name} takes no type parameters`);
      return nativeTypeTable[name as NativeTypeName];
    }
  }
}

function resolveElement(collection: TypeSpec, elementSpec: TypeSpec, frozen: boolean): BaseType {
  const element = resolve(elementSpec, frozen);
  if (element.multiCell) {
    throw new InvalidRequest(`Non-frozen collections are not allowed inside collections: ${specText(collection)}`);
  }
  if (element === counter) throw new InvalidRequest(`Counters are not allowed inside collections: ${specText(collection)}`);
  return element;
}

const typeTokenPattern = /\s*(?:([A-Za-z_][A-Za-z0-9_]*)|([<>,])|(\S))/y;

/** Parses type text such as `map<text, frozen<list<int>>>` into a TypeSpec (names
 *  lower-cased, as CQL type names are case-insensitive). Throws CqlSyntaxError. */
export function parseTypeSpec(source: string): TypeSpec {
  const tokens: { text: string; column: number; word: boolean }[] = [];
  typeTokenPattern.lastIndex = 0;
  for (let match = typeTokenPattern.exec(source); match !== null; match = typeTokenPattern.exec(source)) {
    const text = match[1] ?? match[2] ?? match[3]!;
    const column = match.index + match[0].length - text.length + 1;
    if (match[3] !== undefined) throw new CqlSyntaxError(`Invalid type ${source}: unexpected '${text}'`, 1, column, text);
    tokens.push({ text, column, word: match[1] !== undefined });
  }
  let position = 0;
  const fail = (): never => {
    const token = tokens[position];
    if (token === undefined) throw new CqlSyntaxError(`Invalid type ${source}: unexpected end of input`, 1, source.length + 1, '');
    throw new CqlSyntaxError(`Invalid type ${source}: unexpected '${token.text}'`, 1, token.column, token.text);
  };
  const parseType = (): TypeSpec => {
    const token = tokens[position];
    if (token === undefined || !token.word) return fail();
    position++;
    const spec: TypeSpec = { name: token.text.toLowerCase(), params: [] };
    if (tokens[position]?.text !== '<') return spec;
    do {
      position++;
      spec.params.push(parseType());
    } while (tokens[position]?.text === ',');
    if (tokens[position]?.text !== '>') return fail();
    position++;
    return spec;
  };
  const spec = parseType();
  if (position !== tokens.length) fail();
  return spec;
}

/** The type named by CQL type text, e.g. `parseTypeName('map<text, frozen<list<int>>>')`. */
export function parseTypeName(source: string): CqlType {
  return typeFromSpec(parseTypeSpec(source));
}
