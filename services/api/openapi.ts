import { z } from 'zod';
import {
  askSchema,
  chatCompletionSchema,
  createCollectionSchema,
  createKeySchema,
  listChunksQuerySchema,
  listDocumentsQuerySchema,
  listJobsQuerySchema,
  reindexSchema,
  searchSchema,
  uploadFieldsSchema,
} from './schemas.ts';

type Schema = z.ZodType;

interface Operation {
  readonly summary: string;
  readonly role?: 'reader' | 'writer' | 'admin';
  readonly body?: Schema;
  readonly multipart?: boolean;
  readonly query?: z.ZodObject;
  readonly success?: number;
  readonly stream?: boolean;
  readonly public?: boolean;
}

const operations: Record<string, Record<string, Operation>> = {
  '/collections': {
    get: { summary: 'List collections with document and chunk counts' },
    post: { summary: 'Create a collection', role: 'writer', body: createCollectionSchema, success: 201 },
  },
  '/collections/{name}': {
    delete: { summary: 'Delete a collection, by name, with its documents', role: 'writer', success: 204 },
  },
  '/documents': {
    get: { summary: 'List documents', query: listDocumentsQuerySchema },
    post: {
      summary: 'Upload files for ingest',
      role: 'writer',
      body: uploadFieldsSchema,
      multipart: true,
      success: 202,
    },
  },
  '/documents/{id}': {
    get: {
      summary:
        'A document with its status, error, chunk count and pages (each with its printed label where the PDF has one)',
    },
    delete: { summary: 'Queue the deletion of a document', role: 'writer', success: 202 },
  },
  '/documents/{id}/chunks': {
    get: { summary: "A document's chunks with offsets and pages", query: listChunksQuerySchema },
  },
  '/search': { post: { summary: 'Hybrid, dense or sparse search', body: searchSchema } },
  '/ask': {
    post: {
      summary: 'Answer a question with citations; server-sent events with stream: true',
      body: askSchema,
      stream: true,
    },
  },
  '/chat/completions': {
    post: { summary: 'OpenAI-style chat completion with sources', body: chatCompletionSchema, stream: true },
  },
  '/jobs': { get: { summary: 'List jobs', query: listJobsQuerySchema } },
  '/jobs/{id}': { get: { summary: 'A job with its state and progress' } },
  '/admin/reindex': {
    post: {
      summary: 'Queue a reindex into a new dense index',
      role: 'admin',
      body: reindexSchema,
      success: 202,
    },
  },
  '/admin/keys': {
    get: { summary: 'List API keys (never the keys themselves)', role: 'admin' },
    post: {
      summary: 'Create an API key; the key is shown once',
      role: 'admin',
      body: createKeySchema,
      success: 201,
    },
  },
  '/admin/keys/{id}': { delete: { summary: 'Revoke an API key', role: 'admin', success: 204 } },
  '/whoami': { get: { summary: 'The role and collections of the API key in use' } },
  '/healthz': { get: { summary: 'Liveness', public: true } },
  '/readyz': { get: { summary: 'Readiness: 503 while starting or shutting down', public: true } },
  '/metrics': { get: { summary: 'Prometheus metrics' } },
  '/openapi.json': { get: { summary: 'This document', public: true } },
};

const errorSchema = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: { code: { type: 'string' }, message: { type: 'string' } },
      required: ['code', 'message'],
    },
  },
};

function jsonSchema(schema: Schema): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, {
    io: 'input',
    unrepresentable: 'any',
  }) as Record<string, unknown>;
  return rest;
}

/** Builds the OpenAPI 3.1 document of the `/v1` API from the request schemas. */
export function buildOpenApi(version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [route, methods] of Object.entries(operations)) {
    const item: Record<string, unknown> = {};
    for (const [method, operation] of Object.entries(methods)) {
      const parameters = [
        ...[...route.matchAll(/\{(\w+)\}/g)].map((match) => ({
          name: match[1],
          in: 'path',
          required: true,
          schema: { type: 'string' },
        })),
        ...Object.keys(operation.query?.shape ?? {}).map((name) => {
          const properties = (jsonSchema(operation.query as Schema).properties ?? {}) as Record<
            string,
            unknown
          >;
          return { name, in: 'query', required: false, schema: properties[name] };
        }),
      ];
      const successContent: Record<string, unknown> = { 'application/json': {} };
      if (operation.stream === true) successContent['text/event-stream'] = {};
      item[method] = {
        summary: operation.summary,
        ...(operation.public === true ? { security: [] } : {}),
        ...(operation.role === undefined ? {} : { 'x-docent-role': operation.role }),
        ...(parameters.length === 0 ? {} : { parameters }),
        ...(operation.body === undefined
          ? {}
          : {
              requestBody: {
                required: true,
                content:
                  operation.multipart === true
                    ? {
                        'multipart/form-data': {
                          schema: {
                            ...jsonSchema(operation.body),
                            properties: {
                              ...(jsonSchema(operation.body).properties ?? {}),
                              files: { type: 'array', items: { type: 'string', format: 'binary' } },
                            },
                          },
                        },
                      }
                    : { 'application/json': { schema: jsonSchema(operation.body) } },
              },
            }),
        responses: {
          [String(operation.success ?? 200)]: {
            description: 'Success',
            ...(operation.success === 204 ? {} : { content: successContent }),
          },
          default: { description: 'Error', content: { 'application/json': { schema: errorSchema } } },
        },
      };
    }
    paths[route] = item;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Docent API',
      version,
      description: 'Upload documents, search them and ask questions with cited answers.',
    },
    servers: [{ url: '/v1' }],
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
    paths,
  };
}
