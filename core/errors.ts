/**
 * Stable error codes. Each maps to one HTTP status in the API's error middleware and to a
 * non-zero exit in the command line.
 */
export const errorStatus = {
  INVALID_ARGUMENT: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  EMPTY_DOCUMENT: 422,
  UNDECODABLE_TEXT: 422,
  ENCRYPTED_DOCUMENT: 422,
  NEEDS_OCR: 422,
  PARSE_FAILED: 422,
  PARSE_LIMIT_EXCEEDED: 422,
  RATE_LIMITED: 429,
  BUSY: 503,
  QUEUE_UNAVAILABLE: 503,
  MODEL_NOT_FOUND: 503,
  TIMEOUT: 504,
  CANCELLED: 499,
  INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof errorStatus;

/** The one error class of Docent: a stable `code`, a message that names the value and the fix. */
export class DocentError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DocentError';
    this.code = code;
    this.details = options?.details;
  }

  get status(): number {
    return errorStatus[this.code];
  }
}

export function isDocentError(value: unknown): value is DocentError {
  return value instanceof DocentError;
}

/** Wraps any thrown value as a DocentError, keeping DocentErrors as they are. */
export function toDocentError(value: unknown, fallback: ErrorCode = 'INTERNAL'): DocentError {
  if (value instanceof DocentError) return value;
  const message = value instanceof Error ? value.message : String(value);
  return new DocentError(fallback, message, { cause: value });
}
