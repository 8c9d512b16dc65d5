import type { ErrorRequestHandler, RequestHandler } from 'express';
import multer from 'multer';
import { DocentError, toDocentError } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';

/** Maps body-parser and multer errors to DocentErrors; everything else becomes INTERNAL. */
export function toApiError(error: unknown, maxUploadBytes: number, maxJsonBytes: number): DocentError {
  if (error instanceof DocentError) return error;
  if (error instanceof multer.MulterError) {
    if (error.code === 'LIMIT_FILE_SIZE') {
      return new DocentError(
        'PAYLOAD_TOO_LARGE',
        `File "${error.field ?? ''}" is larger than the upload limit of ${maxUploadBytes} bytes; split it or raise DOCENT_MAX_UPLOAD_BYTES.`,
      );
    }
    if (
      error.code === 'LIMIT_FILE_COUNT' ||
      error.code === 'LIMIT_FIELD_VALUE' ||
      error.code === 'LIMIT_PART_COUNT'
    ) {
      return new DocentError('PAYLOAD_TOO_LARGE', `Upload rejected: ${error.message}.`);
    }
    return new DocentError('INVALID_ARGUMENT', `Invalid multipart upload: ${error.message}.`);
  }
  const http = error as { type?: string; status?: number; message?: string };
  if (http.type === 'entity.too.large') {
    return new DocentError(
      'PAYLOAD_TOO_LARGE',
      `Request body is larger than the limit of ${maxJsonBytes} bytes; send less or raise DOCENT_MAX_JSON_BYTES.`,
    );
  }
  if (http.type === 'entity.parse.failed') {
    return new DocentError('INVALID_ARGUMENT', `Request body is not valid JSON: ${http.message ?? ''}`);
  }
  if (http.status === 415 || http.type === 'charset.unsupported' || http.type === 'encoding.unsupported') {
    return new DocentError('UNSUPPORTED_MEDIA_TYPE', http.message ?? 'Unsupported request encoding');
  }
  return toDocentError(error);
}

/**
 * Turns errors into HTTP responses, in this one place: `{error: {code, message}}` with the
 * status of the DocentError code. Internal errors are logged and their message hidden.
 */
export function errorHandler(options: {
  logger: Logger;
  maxUploadBytes: number;
  maxJsonBytes: number;
}): ErrorRequestHandler {
  return (error: unknown, request, response, _next) => {
    const apiError = toApiError(error, options.maxUploadBytes, options.maxJsonBytes);
    const internal =
      apiError.status >= 500 && apiError.code !== 'BUSY' && apiError.code !== 'QUEUE_UNAVAILABLE';
    if (internal) {
      options.logger.error({ err: error, method: request.method, path: request.path }, 'Request failed');
    }
    if (response.headersSent) {
      response.end();
      return;
    }
    const message =
      apiError.code === 'INTERNAL' ? 'Internal server error; see the server log.' : apiError.message;
    response.status(apiError.status).json({
      error: {
        code: apiError.code,
        message,
        ...(apiError.details === undefined ? {} : { details: apiError.details }),
      },
    });
  };
}

export const notFoundHandler: RequestHandler = (request) => {
  throw new DocentError('NOT_FOUND', `No route for ${request.method} ${request.path}; see /v1/openapi.json.`);
};
