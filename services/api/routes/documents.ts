import { Router, type RequestHandler } from 'express';
import multer from 'multer';
import { DocentError } from '../../../core/errors.ts';
import type { JsonValue } from '../../queue/job-queue.ts';
import { assertCollectionAccess, canUseCollection, requireKey, requireRole } from '../../auth/middleware.ts';
import type { ApiContext } from '../context.ts';
import {
  listChunksQuerySchema,
  listDocumentsQuerySchema,
  parseRequest,
  pathParameter,
  uploadFieldsSchema,
  withoutUndefined,
} from '../schemas.ts';

/** Files accepted in one upload request. */
export const MAX_FILES_PER_UPLOAD = 100;
/** Room for multipart boundaries, part headers and text fields on top of the file bytes. */
const MULTIPART_OVERHEAD_BYTES = 1024 * 1024;

export function documentRoutes(context: ApiContext): Router {
  const router = Router();
  const { docent, ingestion } = context;
  const maxUploadBytes = context.config.server.maxUploadBytes;

  const upload = multer({
    storage: multer.memoryStorage(),
    limits: { fileSize: maxUploadBytes, files: MAX_FILES_PER_UPLOAD, fields: 20, fieldSize: 1024 * 1024 },
    defParamCharset: 'utf8',
  });

  router.post(
    '/documents',
    requireRole('writer'),
    rejectLargeUpload(maxUploadBytes),
    parseMultipart(upload.any()),
    async (request, response) => {
      const fields = parseRequest(uploadFieldsSchema, request.body, 'upload fields');
      assertCollectionAccess(request, fields.collection);
      const metadata = parseMetadata(fields.metadata);
      const files = (request.files ?? []) as Express.Multer.File[];
      if (files.length === 0) {
        throw new DocentError(
          'INVALID_ARGUMENT',
          'No file in the upload: send one or more files as multipart/form-data in the "files" field.',
        );
      }

      const results = [];
      for (const file of files) {
        try {
          const submission = await ingestion.submit(
            {
              bytes: new Uint8Array(file.buffer.buffer, file.buffer.byteOffset, file.buffer.byteLength),
              source: file.originalname,
              ...(file.mimetype === 'application/octet-stream' ? {} : { declaredType: file.mimetype }),
            },
            fields.collection,
            metadata,
          );
          results.push({
            filename: file.originalname,
            documentId: submission.document.id,
            jobId: submission.jobId,
            duplicate: submission.duplicate,
            status: submission.document.status,
          });
        } catch (error) {
          // One bad file (e.g. empty) must not hide the results of the others.
          if (!(error instanceof DocentError) || error.status >= 500) throw error;
          results.push({ filename: file.originalname, error: { code: error.code, message: error.message } });
        }
      }
      const rejected = results.flatMap((result) => ('error' in result ? [result.error] : []));
      if (rejected.length === results.length) {
        // Nothing was accepted: respond like any other error, with the per-file reasons beside it.
        const [first] = rejected;
        response.status(422).json({
          error: {
            code: first?.code ?? 'INVALID_ARGUMENT',
            message:
              results.length === 1
                ? (first?.message ?? '')
                : `None of the ${results.length} files was accepted.`,
          },
          documents: results,
        });
        return;
      }
      response.status(202).json({ documents: results });
    },
  );

  router.get('/documents', (request, response) => {
    const query = parseRequest(listDocumentsQuerySchema, request.query, 'query');
    if (query.collection !== undefined) assertCollectionAccess(request, query.collection);
    const key = requireKey(request);
    const documents = docent.store
      .listDocuments(withoutUndefined(query))
      .filter((document) => canUseCollection(key, document.collection));
    response.json({ documents });
  });

  router.get('/documents/:id', (request, response) => {
    const document = docent.store.requireDocument(pathParameter(request, 'id'));
    assertCollectionAccess(request, document.collection);
    response.json({ ...document, pages: docent.store.getDocumentPages(document.id) });
  });

  router.get('/documents/:id/chunks', (request, response) => {
    const document = docent.store.requireDocument(pathParameter(request, 'id'));
    assertCollectionAccess(request, document.collection);
    const query = parseRequest(listChunksQuerySchema, request.query, 'query');
    response.json({
      documentId: document.id,
      chunks: docent.store.getChunks(document.id, query.limit, query.offset),
    });
  });

  router.delete('/documents/:id', requireRole('writer'), async (request, response) => {
    const document = docent.store.requireDocument(pathParameter(request, 'id'));
    assertCollectionAccess(request, document.collection);
    const job = await ingestion.deleteDocument(document.id);
    response.status(202).json({ documentId: document.id, jobId: job.id });
  });

  return router;
}

/**
 * Rejects with 413 from the Content-Length header before any byte of the body is read, so that an
 * oversized upload is neither parsed nor stored. Chunked uploads without the header are cut
 * off by multer's per-file limit instead.
 */
function rejectLargeUpload(maxUploadBytes: number): RequestHandler {
  return (request, _response, next) => {
    const length = Number(request.get('content-length'));
    if (
      Number.isFinite(length) &&
      length > maxUploadBytes * MAX_FILES_PER_UPLOAD + MULTIPART_OVERHEAD_BYTES
    ) {
      throw new DocentError(
        'PAYLOAD_TOO_LARGE',
        `Upload of ${length} bytes is larger than the limit; send at most ${MAX_FILES_PER_UPLOAD} files of ${maxUploadBytes} bytes each.`,
      );
    }
    next();
  };
}

/**
 * Runs multer and turns the errors of its multipart parser (busboy's plain Errors such as
 * "Malformed part header" or "Unexpected end of form") into INVALID_ARGUMENT, because only the
 * request body causes them. Multer's own limit errors pass through to the error handler.
 */
function parseMultipart(handler: RequestHandler): RequestHandler {
  return (request, response, next) => {
    void handler(request, response, (error?: unknown) => {
      if (
        error === undefined ||
        error === null ||
        error instanceof multer.MulterError ||
        error instanceof DocentError
      ) {
        next(error);
        return;
      }
      const reason = error instanceof Error ? error.message : 'the body could not be parsed';
      next(
        new DocentError(
          'INVALID_ARGUMENT',
          `Invalid multipart upload: ${reason}. Send the files as multipart/form-data with valid part headers.`,
          { cause: error },
        ),
      );
    });
  };
}

function parseMetadata(raw: string | undefined): Record<string, JsonValue> {
  if (raw === undefined || raw.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (error) {
    throw new DocentError(
      'INVALID_ARGUMENT',
      `Field "metadata" is not valid JSON: ${(error as Error).message}`,
    );
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new DocentError('INVALID_ARGUMENT', 'Field "metadata" must be a JSON object, e.g. {"lang":"en"}.');
  }
  return parsed as Record<string, JsonValue>;
}
