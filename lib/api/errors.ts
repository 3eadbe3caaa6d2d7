/**
 * The one place where errors become HTTP responses. A SibylError's `code` picks the
 * status (DESIGN.md, "HTTP API contract"); the body is always
 * `{ "error": { "code", "message", ...details } }`, whatever went wrong: a CQL error, a
 * request the edge rejected (bad JSON, unknown field, body too large) or a bug.
 *
 * Requests that do not follow the v1 contract are ProtocolErrors, as a malformed frame
 * is in Cassandra's native protocol. Most are 400; a few carry the HTTP status that says
 * more precisely what is wrong (413 body too large, 404 unknown path, 415 not JSON),
 * still with code ProtocolError so clients need to know one set of codes.
 */
import { type ErrorCode, ProtocolError, ServerError, SibylError } from '../errors.js';

const STATUS_BY_CODE: Readonly<Record<ErrorCode, number>> = Object.freeze({
  SyntaxError: 400,
  Invalid: 400,
  AlreadyExists: 400,
  ConfigurationError: 400,
  ProtocolError: 400,
  Unauthorized: 401,
  Unavailable: 503,
  Overloaded: 503,
  WriteTimeout: 504,
  ReadTimeout: 504,
  ServerError: 500,
  // The node is at fault, not the request; the file is named so an operator can act.
  CorruptSSTable: 500,
});

/** A ProtocolError that HTTP describes better with its own status (see above). */
export class HttpProtocolError extends ProtocolError {
  constructor(
    message: string,
    readonly httpStatus: 404 | 405 | 413 | 415,
    private readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
  override details(): Record<string, unknown> {
    return this.extra;
  }
}

export interface ErrorBody {
  error: { code: string; message: string; [detail: string]: unknown };
}

export interface HttpErrorResponse {
  status: number;
  body: ErrorBody;
}

/** The HTTP status for an error code; unknown codes are the server's fault (500). */
export function httpStatusOf(code: string): number {
  return Object.hasOwn(STATUS_BY_CODE, code) ? STATUS_BY_CODE[code as ErrorCode] : 500;
}

export function errorBody(code: string, message: string, details: Record<string, unknown> = {}): ErrorBody {
  return { error: { code, message, ...details } };
}

/** Status and body for any thrown value; anything that is not a SibylError is a ServerError. */
export function toHttpError(error: unknown): HttpErrorResponse {
  const sibyl = error instanceof SibylError ? error : asServerError(error);
  const status = sibyl instanceof HttpProtocolError ? sibyl.httpStatus : httpStatusOf(sibyl.code);
  return { status, body: errorBody(sibyl.code, sibyl.message, sibyl.details()) };
}

function asServerError(error: unknown): ServerError {
  const message = error instanceof Error ? error.message : String(error);
  return new ServerError(message === '' ? 'Internal server error' : message);
}

/** What fastify attaches to the errors it raises at the edge (parsing, validation). */
interface EdgeError extends Error {
  code?: string;
  statusCode?: number;
  validation?: readonly ValidationIssue[];
}

/** One ajv error, as fastify reports a schema violation. */
interface ValidationIssue {
  instancePath: string;
  keyword: string;
  params: Record<string, unknown>;
  message?: string;
}

/**
 * Translates the errors fastify raises before a handler runs into ProtocolErrors with
 * messages a person can act on; returns undefined for anything else.
 * `contentType` names what the client sent; `bodyLimit` is the limit it exceeded.
 */
export function fromEdgeError(thrown: unknown, contentType: string | undefined, bodyLimit: number): SibylError | undefined {
  if (!(thrown instanceof Error)) return undefined;
  const error: EdgeError = thrown;
  if (error.validation !== undefined && error.validation.length > 0) {
    return new ProtocolError(describeValidation(error.validation[0]));
  }
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      // Cassandra's words for a native-protocol frame over its limit.
      return new HttpProtocolError(`Request is too big: exceeds maximum allowed length ${bodyLimit} bytes`, 413, {
        limit: bodyLimit,
      });
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new ProtocolError('Request body is not valid JSON');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ProtocolError('Request body is empty (expected a JSON object such as {"query": "..."})');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new HttpProtocolError(`Unsupported content type '${contentType ?? ''}' (expected application/json)`, 415);
  }
  // Other client errors fastify detects (bad content-length, bad URL …) keep its message.
  if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
    return new ProtocolError(error.message);
  }
  return undefined;
}

function describeValidation(issue: ValidationIssue): string {
  const field = issue.instancePath.replace(/^\//, '').replace(/\//g, '.');
  if (field === '') {
    if (issue.keyword === 'additionalProperties') return `Unknown field '${String(issue.params.additionalProperty)}' in request body`;
    if (issue.keyword === 'required') return `Missing required field '${String(issue.params.missingProperty)}'`;
    return 'Request body must be a JSON object';
  }
  switch (issue.keyword) {
    case 'type':
      return `Field '${field}' must be of type ${String(issue.params.type).replace(',', ' or ')}`;
    case 'enum':
      return `Field '${field}' must be one of ${(issue.params.allowedValues as unknown[]).join(', ')}`;
    default:
      return `Field '${field}' ${issue.message ?? 'is invalid'}`;
  }
}
