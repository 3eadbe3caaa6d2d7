/**
 * The error catalogue. Each class mirrors one of Cassandra's native-protocol error
 * codes and carries the same details, so a Cassandra user recognises them. The HTTP
 * layer maps `code` to a status in one place (lib/api/errors.ts); nothing swallows them.
 */

export type ErrorCode =
  | 'ServerError'
  | 'ProtocolError'
  | 'SyntaxError'
  | 'Invalid'
  | 'AlreadyExists'
  | 'ConfigurationError'
  | 'Unauthorized'
  | 'Unavailable'
  | 'Overloaded'
  | 'WriteTimeout'
  | 'ReadTimeout'
  | 'CorruptSSTable';

export abstract class SibylError extends Error {
  abstract readonly code: ErrorCode;
  constructor(message: string) {
    super(message);
    // Shows the class (InvalidRequest, Unavailable …) in stack traces and test output.
    this.name = new.target.name;
  }
  /** Extra fields reported next to code and message (consistency, required, alive …). */
  details(): Record<string, unknown> {
    return {};
  }
}

/** A bug or an unexpected failure inside the node. */
export class ServerError extends SibylError {
  readonly code = 'ServerError' as const;
}

/** The client sent something that is not a valid request (bad JSON shape, unknown field). */
export class ProtocolError extends SibylError {
  readonly code = 'ProtocolError' as const;
}

/** The statement does not parse. `line`/`column` are 1-based; `token` is the offending text. */
export class CqlSyntaxError extends SibylError {
  readonly code = 'SyntaxError' as const;
  constructor(
    message: string,
    readonly line: number,
    readonly column: number,
    readonly token: string,
  ) {
    super(message);
  }
  override details(): Record<string, unknown> {
    return { line: this.line, column: this.column, token: this.token };
  }
}

/** The statement parses but is semantically wrong (unknown table, type mismatch …). */
export class InvalidRequest extends SibylError {
  readonly code = 'Invalid' as const;
}

export class AlreadyExists extends SibylError {
  readonly code = 'AlreadyExists' as const;
  constructor(
    message: string,
    readonly keyspace: string,
    readonly table: string | null = null,
  ) {
    super(message);
  }
  override details(): Record<string, unknown> {
    return this.table === null ? { keyspace: this.keyspace } : { keyspace: this.keyspace, table: this.table };
  }
}

export class ConfigurationError extends SibylError {
  readonly code = 'ConfigurationError' as const;
}

export class Unauthorized extends SibylError {
  readonly code = 'Unauthorized' as const;
}

export class Unavailable extends SibylError {
  readonly code = 'Unavailable' as const;
  constructor(
    readonly consistency: string,
    readonly required: number,
    readonly alive: number,
  ) {
    super(`Cannot achieve consistency level ${consistency}: required ${required}, alive ${alive}`);
  }
  override details(): Record<string, unknown> {
    return { consistency: this.consistency, required: this.required, alive: this.alive };
  }
}

export class Overloaded extends SibylError {
  readonly code = 'Overloaded' as const;
}

export type WriteType = 'SIMPLE' | 'BATCH' | 'UNLOGGED_BATCH' | 'COUNTER' | 'BATCH_LOG' | 'CAS' | 'VIEW' | 'CDC';

export class WriteTimeout extends SibylError {
  readonly code = 'WriteTimeout' as const;
  constructor(
    readonly consistency: string,
    readonly received: number,
    readonly blockFor: number,
    readonly writeType: WriteType,
  ) {
    super(
      `Operation timed out - received only ${received} responses (${blockFor} required) at consistency ${consistency}`,
    );
  }
  override details(): Record<string, unknown> {
    return { consistency: this.consistency, received: this.received, blockFor: this.blockFor, writeType: this.writeType };
  }
}

export class ReadTimeout extends SibylError {
  readonly code = 'ReadTimeout' as const;
  constructor(
    readonly consistency: string,
    readonly received: number,
    readonly blockFor: number,
    readonly dataPresent: boolean,
  ) {
    super(
      `Operation timed out - received only ${received} responses (${blockFor} required) at consistency ${consistency}`,
    );
  }
  override details(): Record<string, unknown> {
    return {
      consistency: this.consistency,
      received: this.received,
      blockFor: this.blockFor,
      dataPresent: this.dataPresent,
    };
  }
}

/** A checksum failed while reading an SSTable; `file` names it. */
export class CorruptSSTable extends SibylError {
  readonly code = 'CorruptSSTable' as const;
  constructor(
    message: string,
    readonly file: string,
  ) {
    super(message);
  }
  override details(): Record<string, unknown> {
    return { file: this.file };
  }
}

/** Programmer-error assertion: stays on in production (see STYLE.md). */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new ServerError(`assertion failed: ${message}`);
}
