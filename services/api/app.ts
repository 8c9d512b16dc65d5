import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { Router, type Express } from 'express';
import { DocentError, toDocentError } from '../../core/errors.ts';
import {
  assertCollectionAccess,
  authenticate,
  canUseCollection,
  requireKey,
  requireRole,
} from '../auth/middleware.ts';
import type { ApiContext } from './context.ts';
import { errorHandler, notFoundHandler } from './error-handler.ts';
import { buildOpenApi } from './openapi.ts';
import { adminRoutes } from './routes/admin.ts';
import { askRoutes } from './routes/ask.ts';
import { documentRoutes } from './routes/documents.ts';
import { createCollectionSchema, parseRequest, pathParameter, searchSchema } from './schemas.ts';

export const API_VERSION = '1.0.0';
const WEB_DIRECTORY = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../web');

export interface AppOptions {
  /** False while the server starts or shuts down; `/v1/readyz` then returns 503. */
  readonly isReady?: () => boolean;
  /** Serve the portal from `web/`; on by default. */
  readonly servePortal?: boolean;
}

/** Builds the Express app: the `/v1` API, its error middleware and the static portal. */
export function createApp(context: ApiContext, options: AppOptions = {}): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback');

  app.use((_request, response, next) => {
    // The portal loads only its own scripts and styles; data is never rendered as HTML.
    response.setHeader(
      'Content-Security-Policy',
      "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    );
    response.setHeader('X-Content-Type-Options', 'nosniff');
    response.setHeader('Referrer-Policy', 'no-referrer');
    next();
  });

  app.use((request, response, next) => {
    const started = performance.now();
    const requestId = randomUUID();
    response.setHeader('X-Request-Id', requestId);
    response.on('finish', () => {
      // Only method, path and status: query strings and bodies may hold user text.
      context.logger.debug(
        {
          requestId,
          method: request.method,
          path: request.path,
          status: response.statusCode,
          ms: Math.round(performance.now() - started),
        },
        'Request finished',
      );
    });
    next();
  });

  app.use('/v1', apiRouter(context, options));
  if (options.servePortal !== false) {
    app.use(express.static(WEB_DIRECTORY, { index: 'index.html', fallthrough: true }));
  }
  app.use(notFoundHandler);
  app.use(
    errorHandler({
      logger: context.logger,
      maxUploadBytes: context.config.server.maxUploadBytes,
      maxJsonBytes: context.config.server.maxJsonBytes,
    }),
  );
  return app;
}

function apiRouter(context: ApiContext, options: AppOptions): Router {
  const router = Router();
  const { docent, metrics } = context;
  const openApi = buildOpenApi(API_VERSION);

  router.use(metrics.middleware());

  // Public routes, before authentication.
  router.get('/healthz', (_request, response) => {
    response.json({ status: 'ok' });
  });
  router.get('/readyz', async (_request, response) => {
    if (!(options.isReady?.() ?? true)) {
      response.status(503).json({ status: 'not ready', reason: 'starting or shutting down' });
      return;
    }
    try {
      // With Redis this fails within the queue's timeout while Redis is unreachable.
      await context.queue.counts();
    } catch (error) {
      response
        .status(503)
        .json({ status: 'not ready', reason: `job queue unavailable: ${toDocentError(error).message}` });
      return;
    }
    response.json({ status: 'ready' });
  });
  router.get('/openapi.json', (_request, response) => {
    response.json(openApi);
  });

  router.use(authenticate(context.keys, context.config.server.rateLimitPerMinute));
  // Bodies are read only for authenticated requests.
  router.use(express.json({ limit: context.config.server.maxJsonBytes }));

  router.get('/whoami', (request, response) => {
    response.json(requireKey(request));
  });

  router.get('/metrics', async (_request, response) => {
    response.setHeader('Content-Type', metrics.registry.contentType);
    response.send(await metrics.registry.metrics());
  });

  router.get('/collections', (request, response) => {
    const key = requireKey(request);
    const collections = docent.store
      .listCollections()
      .filter((collection) => canUseCollection(key, collection.name));
    response.json({ collections });
  });

  router.post('/collections', requireRole('writer'), (request, response) => {
    const body = parseRequest(createCollectionSchema, request.body);
    assertCollectionAccess(request, body.name);
    if (docent.store.getCollection(body.name) !== undefined) {
      throw new DocentError('CONFLICT', `Collection "${body.name}" already exists.`);
    }
    response.status(201).json(docent.ensureCollection(body.name));
  });

  router.delete('/collections/:name', requireRole('writer'), (request, response) => {
    const name = pathParameter(request, 'name');
    assertCollectionAccess(request, name);
    docent.deleteCollection(name);
    response.status(204).end();
  });

  router.post('/search', async (request, response) => {
    const body = parseRequest(searchSchema, request.body);
    assertCollectionAccess(request, body.collection);
    const { results, timings } = await docent.search(body.query, {
      collection: body.collection,
      topK: body.topK,
      mode: body.mode,
      ...(body.fusion === undefined ? {} : { fusion: body.fusion }),
      ...(body.alpha === undefined ? {} : { alpha: body.alpha }),
      ...(body.filters === undefined ? {} : { filters: body.filters }),
    });
    response.json({
      results: results.map((result) => ({ ...result, fusedRank: result.rank, fusedScore: result.score })),
      timings,
    });
  });

  router.use(documentRoutes(context));
  router.use(askRoutes(context));
  router.use(adminRoutes(context));
  return router;
}
