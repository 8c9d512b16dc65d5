import { z } from 'zod';
import { DocentError } from '../../core/errors.ts';

/**
 * Request schemas of the REST API. The same objects validate requests and generate
 * `/v1/openapi.json`, so the document cannot drift from what the server accepts.
 */

const collectionName = z
  .string()
  .min(1)
  .max(64)
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_.-]*$/,
    'use letters, digits, "_", "." and "-", starting with a letter or digit',
  )
  .describe('Collection name');

const filterValue = z.union([z.string(), z.number(), z.boolean()]);
const metadataFilters = z
  .record(z.string(), z.union([filterValue, z.array(filterValue)]))
  .describe('Document metadata filter: each key must equal the value, or one of the values of an array');

export const createCollectionSchema = z.object({ name: collectionName }).strict();

export const listDocumentsQuerySchema = z.object({
  collection: collectionName.optional(),
  status: z.enum(['queued', 'processing', 'indexed', 'failed', 'needs_ocr']).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  offset: z.coerce.number().int().min(0).default(0),
});

export const listChunksQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(10_000).default(1000),
  offset: z.coerce.number().int().min(0).default(0),
});

/** Text fields of a multipart upload; the files come in the `files` field. */
export const uploadFieldsSchema = z.object({
  collection: collectionName.default('default'),
  metadata: z
    .string()
    .optional()
    .describe('JSON object stored with every uploaded document, usable in search filters'),
});

export const searchSchema = z
  .object({
    query: z.string().trim().min(1).max(4000),
    collection: collectionName.default('default'),
    topK: z.number().int().min(1).max(100).default(10),
    mode: z.enum(['hybrid', 'dense', 'sparse']).default('hybrid'),
    fusion: z.enum(['rrf', 'weighted']).optional(),
    alpha: z.number().min(0).max(1).optional().describe('Weight of the dense side in weighted fusion'),
    filters: metadataFilters.optional(),
  })
  .strict();

export const askSchema = z
  .object({
    question: z.string().trim().min(1).max(4000),
    collection: collectionName.default('default'),
    topK: z.number().int().min(1).max(20).default(5),
    filters: metadataFilters.optional(),
    conversationId: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/)
      .optional()
      .describe('Continues a conversation: earlier questions and answers are passed to the generator'),
    stream: z.boolean().default(false).describe('Send server-sent events instead of one JSON answer'),
  })
  .strict();

export const chatCompletionSchema = z.object({
  model: z.string().optional().describe('Ignored: the server answers with its configured generator'),
  messages: z
    .array(
      z.object({
        role: z.enum(['system', 'user', 'assistant']),
        content: z.string(),
      }),
    )
    .min(1),
  stream: z.boolean().default(false),
  max_tokens: z.number().int().min(1).max(8192).optional(),
  collection: collectionName.default('default').describe('Docent extension: collection to answer from'),
  top_k: z.number().int().min(1).max(20).default(5).describe('Docent extension: sources retrieved'),
});

export const listJobsQuerySchema = z.object({
  state: z.enum(['waiting', 'active', 'completed', 'failed', 'delayed']).optional(),
  type: z.enum(['ingest', 'delete', 'reindex', 'apply']).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

export const reindexSchema = z
  .object({
    collection: collectionName.optional().describe('Collection to reindex; all collections when absent'),
    embedder: z
      .string()
      .min(1)
      .max(300)
      .optional()
      .describe('Embedder spec to switch to, e.g. use-lite-windowed'),
  })
  .strict();

export const createKeySchema = z
  .object({
    role: z.enum(['reader', 'writer', 'admin']),
    collections: z.array(collectionName).optional(),
    label: z.string().max(200).optional(),
  })
  .strict();

/** Parses `value` with `schema`, raising INVALID_ARGUMENT that names each invalid field. */
export function parseRequest<T extends z.ZodType>(
  schema: T,
  value: unknown,
  where = 'request body',
): z.output<T> {
  const parsed = schema.safeParse(value ?? {});
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    const field = issue.path.length > 0 ? issue.path.join('.') : where;
    return `${field}: ${issue.message}`;
  });
  throw new DocentError('INVALID_ARGUMENT', `Invalid ${where}. ${problems.join('; ')}`, {
    details: {
      issues: parsed.error.issues.map((issue) => ({ path: issue.path.map(String), message: issue.message })),
    },
  });
}

/** Returns a path parameter as a string; Express types allow arrays for wildcard routes. */
export function pathParameter(request: { params: Record<string, unknown> }, name: string): string {
  const value = request.params[name];
  if (typeof value !== 'string' || value === '') {
    throw new DocentError('INVALID_ARGUMENT', `Missing path parameter "${name}".`);
  }
  return value;
}

/** Copies an object without its undefined properties, for options typed with exact optional properties. */
export function withoutUndefined<T extends Record<string, unknown>>(
  value: T,
): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as {
    [K in keyof T]: Exclude<T[K], undefined>;
  };
}
