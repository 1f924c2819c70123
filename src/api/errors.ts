import type { ErrorRequestHandler, RequestHandler, Response } from 'express';
import type { z } from 'zod';
import { type ErrorCode, isTollgateError, TollgateError } from '../errors.js';
import type { ErrorSchema } from './routes/shared.schemas.js';

/**
 * The one place where errors become HTTP responses:
 * `{"error":{"code","message","details"}}` with the status of its code.
 * Nothing a client sends yields a 500 or a stack trace; a 500 (INTERNAL)
 * means a bug of ours, and its message says nothing more.
 */
export const STATUS_OF: Record<ErrorCode, number> = {
  VALIDATION_FAILED: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  RESERVATION_NOT_FOUND: 404,
  CONFLICT: 409,
  IDEMPOTENCY_CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  STORE_UNAVAILABLE: 503,
  INTERNAL: 500,
};

/** `{"error":{"code","message","details"}}`: the schema `Error` of /openapi.json. */
export type ErrorBody = z.output<typeof ErrorSchema>;

export interface HttpError {
  status: number;
  body: ErrorBody;
}

export type ErrorLogger = (message: string, error: unknown) => void;

/** Codes whose details may hold internals (addresses, script text): never sent. */
const OPAQUE: ReadonlySet<ErrorCode> = new Set(['STORE_UNAVAILABLE', 'INTERNAL']);

/**
 * An error whose details were written by the API itself from constants (never
 * from a driver's message), so they are sent even for an opaque code: e.g.
 * 503 STORE_UNAVAILABLE `{store: "not configured"}`.
 */
export class PublicDetailsError extends TollgateError {
  constructor(code: ErrorCode, message: string, details: Record<string, unknown>) {
    super(code, message, details);
    this.name = 'PublicDetailsError';
  }
}

function envelope(
  code: ErrorCode,
  message: string,
  details?: Record<string, unknown>,
  publicDetails = false,
): HttpError {
  return {
    status: STATUS_OF[code],
    body: {
      error: {
        code,
        message,
        details: OPAQUE.has(code) && !publicDetails ? {} : (details ?? {}),
      },
    },
  };
}

/** Errors of body-parser (and of the router: a bad %-escape in the path), by `type`. */
const PARSER_ERRORS: Record<string, [ErrorCode, string]> = {
  'entity.too.large': ['PAYLOAD_TOO_LARGE', 'Request body is larger than 64 KiB'],
  'entity.parse.failed': ['VALIDATION_FAILED', 'Malformed JSON body'],
  'entity.verify.failed': ['VALIDATION_FAILED', 'Malformed request body'],
  'encoding.unsupported': ['VALIDATION_FAILED', 'Unsupported Content-Encoding'],
  'charset.unsupported': ['VALIDATION_FAILED', 'Unsupported charset (use UTF-8)'],
  'request.aborted': ['VALIDATION_FAILED', 'Request body was aborted'],
  'request.size.invalid': ['VALIDATION_FAILED', 'Request body does not match its Content-Length'],
  'parameters.too.many': ['VALIDATION_FAILED', 'Too many parameters'],
};

function statusOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { status?: unknown; statusCode?: unknown };
  const s = e.status ?? e.statusCode;
  return typeof s === 'number' && Number.isInteger(s) ? s : undefined;
}

/** Maps anything thrown while serving a request to its response. */
export function toHttpError(err: unknown, log?: ErrorLogger): HttpError {
  if (isTollgateError(err)) {
    if (err.code === 'INTERNAL') log?.('internal error', err);
    return envelope(
      err.code,
      err.code === 'INTERNAL' ? 'Internal error' : err.message,
      err.details,
      err instanceof PublicDetailsError,
    );
  }
  const type = (err as { type?: unknown } | null)?.type;
  if (typeof type === 'string' && Object.hasOwn(PARSER_ERRORS, type)) {
    const [code, message] = PARSER_ERRORS[type] as [ErrorCode, string];
    return envelope(code, message);
  }
  const status = statusOf(err);
  if (status === 413) return envelope('PAYLOAD_TOO_LARGE', 'Request body is larger than 64 KiB');
  if (status === 404) return envelope('NOT_FOUND', 'Not found');
  if (status !== undefined && status >= 400 && status < 500) {
    // A malformed request the framework refused (e.g. a bad %-escape in the path).
    return envelope('VALIDATION_FAILED', 'Malformed request');
  }
  log?.('internal error', err);
  return envelope('INTERNAL', 'Internal error');
}

export function sendError(res: Response, e: HttpError): void {
  if (e.status === 401) res.setHeader('WWW-Authenticate', 'Bearer realm="tollgate"');
  res.status(e.status).json(e.body);
}

/** One issue of a request field: `path` is where (`body.agent_id`, `params.id`, `query.role`). */
export interface FieldIssue {
  path: string;
  message: string;
}

export function fieldIssues(where: string, error: z.ZodError): FieldIssue[] {
  const out: FieldIssue[] = [];
  for (const issue of error.issues) {
    const base = [where, ...issue.path.map(String)].join('.');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push({ path: `${base}.${key}`, message: 'unknown field' });
    } else {
      out.push({ path: base, message: issue.message });
    }
  }
  return out;
}

export function validationError(issues: FieldIssue[]): TollgateError {
  const first = issues[0];
  const message = first ? `Invalid request: ${first.path}: ${first.message}` : 'Invalid request';
  return new TollgateError('VALIDATION_FAILED', message, { issues });
}

export const notFoundHandler: RequestHandler = (_req, res) => {
  sendError(res, envelope('NOT_FOUND', 'No such route'));
};

export function errorHandler(log?: ErrorLogger): ErrorRequestHandler {
  return (err, _req, res, _next) => {
    if (res.headersSent) {
      // Too late for an error response: end what was started.
      log?.('error after the response began', err);
      res.end();
      return;
    }
    sendError(res, toHttpError(err, log));
  };
}

export function apiError(
  code: ErrorCode,
  message: string,
  details?: Record<string, unknown>,
): TollgateError {
  return new TollgateError(code, message, details);
}
