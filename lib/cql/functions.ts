/**
 * CQL's native scalar functions (now(), uuid(), toTimestamp(), blobAsText() …),
 * looked up by lower-cased name and argument types. token() is not here: it needs
 * the table's partition key and is handled by the selection and WHERE code.
 */
import { InvalidRequest } from '../errors.js';
import type { Clock } from '../model/clock.js';
import type { CqlType } from '../schema/type.js';
import { parseTypeName } from '../schema/types.js';
import { randomUuid, timeuuidFromMillis, timeuuidToMillis, type TimeUuidGenerator } from '../schema/uuid.js';

export interface FunctionContext {
  readonly clock: Clock;
  readonly timeuuids: TimeUuidGenerator;
}

export interface ScalarFunction {
  /** As CQL shows it: lower-case name, e.g. 'totimestamp'. */
  readonly name: string;
  readonly argTypes: readonly CqlType[];
  readonly returnType: CqlType;
  /** False for now(), uuid() …: they must be evaluated at every execution. */
  readonly deterministic: boolean;
  /** Arguments are JS values (never null: functions return null on null input). */
  apply(args: unknown[], ctx: FunctionContext): unknown;
}

const T = {
  timeuuid: parseTypeName('timeuuid'),
  uuid: parseTypeName('uuid'),
  timestamp: parseTypeName('timestamp'),
  date: parseTypeName('date'),
  time: parseTypeName('time'),
  bigint: parseTypeName('bigint'),
  blob: parseTypeName('blob'),
};

const MS_PER_DAY = 86_400_000;
const NS_PER_MS = 1_000_000n;

function fn(
  name: string,
  argTypes: CqlType[],
  returnType: CqlType,
  apply: (args: unknown[], ctx: FunctionContext) => unknown,
  deterministic = true,
): ScalarFunction {
  return { name, argTypes, returnType, apply, deterministic };
}

function buildRegistry(): Map<string, ScalarFunction[]> {
  const all: ScalarFunction[] = [
    fn('now', [], T.timeuuid, (_, ctx) => ctx.timeuuids.next(), false),
    fn('currenttimeuuid', [], T.timeuuid, (_, ctx) => ctx.timeuuids.next(), false),
    fn('uuid', [], T.uuid, () => randomUuid(), false),
    fn('currenttimestamp', [], T.timestamp, (_, ctx) => ctx.clock.nowMillis(), false),
    fn('currentdate', [], T.date, (_, ctx) => Math.floor(ctx.clock.nowMillis() / MS_PER_DAY), false),
    fn('currenttime', [], T.time, (_, ctx) => (BigInt(ctx.clock.nowMillis() % MS_PER_DAY) * NS_PER_MS), false),
    fn('totimestamp', [T.timeuuid], T.timestamp, ([u]) => timeuuidToMillis(u as string)),
    fn('totimestamp', [T.date], T.timestamp, ([d]) => (d as number) * MS_PER_DAY),
    fn('todate', [T.timeuuid], T.date, ([u]) => Math.floor(timeuuidToMillis(u as string) / MS_PER_DAY)),
    fn('todate', [T.timestamp], T.date, ([ms]) => Math.floor((ms as number) / MS_PER_DAY)),
    fn('tounixtimestamp', [T.timeuuid], T.bigint, ([u]) => BigInt(timeuuidToMillis(u as string))),
    fn('tounixtimestamp', [T.timestamp], T.bigint, ([ms]) => BigInt(ms as number)),
    fn('tounixtimestamp', [T.date], T.bigint, ([d]) => BigInt((d as number) * MS_PER_DAY)),
    fn('dateof', [T.timeuuid], T.timestamp, ([u]) => timeuuidToMillis(u as string)),
    fn('unixtimestampof', [T.timeuuid], T.bigint, ([u]) => BigInt(timeuuidToMillis(u as string))),
    fn('mintimeuuid', [T.timestamp], T.timeuuid, ([ms]) => timeuuidFromMillis(ms as number, 'min')),
    fn('maxtimeuuid', [T.timestamp], T.timeuuid, ([ms]) => timeuuidFromMillis(ms as number, 'max')),
  ];
  // blobAsX / XAsBlob conversions for every native type (as Cassandra generates them).
  const natives = [
    'ascii', 'bigint', 'boolean', 'date', 'decimal', 'double', 'float', 'inet', 'int', 'smallint',
    'text', 'time', 'timestamp', 'timeuuid', 'tinyint', 'uuid', 'varchar', 'varint', 'duration',
  ];
  for (const name of natives) {
    const type = parseTypeName(name);
    all.push(fn(`blobas${name}`, [T.blob], type, ([b]) => type.deserialize(b as Buffer)));
    all.push(fn(`${name}asblob`, [type], T.blob, ([v]) => type.serialize(v)));
  }
  const registry = new Map<string, ScalarFunction[]>();
  for (const f of all) {
    const overloads = registry.get(f.name) ?? [];
    overloads.push(f);
    registry.set(f.name, overloads);
  }
  return registry;
}

const REGISTRY = buildRegistry();

export function functionOverloads(name: string): readonly ScalarFunction[] {
  const normalized = name.startsWith('system.') ? name.slice('system.'.length) : name;
  const overloads = REGISTRY.get(normalized.toLowerCase());
  if (overloads === undefined) throw new InvalidRequest(`Unknown function '${name}'`);
  return overloads;
}

/**
 * Picks the overload whose parameters accept the given argument types; `null`
 * stands for an argument whose type is not known yet (a literal or bind marker),
 * which `accepts(index, type)` can test.
 */
export function resolveFunction(
  name: string,
  argTypes: readonly (CqlType | null)[],
  accepts: (index: number, type: CqlType) => boolean = () => true,
): ScalarFunction {
  const overloads = functionOverloads(name);
  const candidates = overloads.filter((f) => f.argTypes.length === argTypes.length);
  if (candidates.length === 0) {
    throw new InvalidRequest(
      `Invalid number of arguments in call to function ${name}: ${overloads[0].argTypes.length} required but ${argTypes.length} provided`,
    );
  }
  for (const f of candidates) {
    const ok = f.argTypes.every((param, i) => {
      const given = argTypes[i];
      return given === null ? accepts(i, param) : param.isCompatibleWith(given);
    });
    if (ok) return f;
  }
  const shown = argTypes.map((t) => (t === null ? '?' : t.name)).join(', ');
  throw new InvalidRequest(`Type error: cannot call ${name}(${shown}); no overload of ${name} accepts these arguments`);
}
