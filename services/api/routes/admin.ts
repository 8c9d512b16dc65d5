import { Router } from 'express';
import { DocentError } from '../../../core/errors.ts';
import { assertCollectionAccess, requireKey, requireRole } from '../../auth/middleware.ts';
import type { JobInfo } from '../../queue/job-queue.ts';
import type { ApiContext } from '../context.ts';
import {
  createKeySchema,
  listJobsQuerySchema,
  parseRequest,
  pathParameter,
  reindexSchema,
  withoutUndefined,
} from '../schemas.ts';

export function adminRoutes(context: ApiContext): Router {
  const router = Router();
  const { queue, ingestion, keys } = context;

  router.get('/jobs/:id', async (request, response) => {
    const job = await queue.get(pathParameter(request, 'id'));
    if (job === null)
      throw new DocentError(
        'NOT_FOUND',
        `Job ${JSON.stringify(pathParameter(request, 'id'))} not found; finished jobs are kept for a while only.`,
      );
    const collection = collectionOf(job);
    if (collection !== undefined) assertCollectionAccess(request, collection);
    response.json(publicJob(job));
  });

  router.get('/jobs', async (request, response) => {
    const query = parseRequest(listJobsQuerySchema, request.query, 'query');
    const key = requireKey(request);
    const jobs = await queue.list(withoutUndefined(query));
    const visible =
      key.collections === null
        ? jobs
        : jobs.filter((job) => {
            const collection = collectionOf(job);
            return collection !== undefined && key.collections?.includes(collection) === true;
          });
    response.json({ jobs: visible.map(publicJob), counts: await queue.counts() });
  });

  router.post('/admin/reindex', requireRole('admin'), async (request, response) => {
    const body = parseRequest(reindexSchema, request.body);
    const job = await ingestion.reindex(body.collection, body.embedder);
    response.status(202).json({ jobId: job.id });
  });

  router.get('/admin/keys', requireRole('admin'), (_request, response) => {
    response.json({ keys: keys.list() });
  });

  router.post('/admin/keys', requireRole('admin'), (request, response) => {
    const body = parseRequest(createKeySchema, request.body);
    const created = keys.create({
      role: body.role,
      ...(body.collections === undefined ? {} : { collections: body.collections }),
      ...(body.label === undefined ? {} : { label: body.label }),
    });
    response.status(201).json({ key: created.key, ...created.record });
  });

  router.delete('/admin/keys/:id', requireRole('admin'), (request, response) => {
    if (requireKey(request).id === pathParameter(request, 'id')) {
      throw new DocentError(
        'CONFLICT',
        'A key cannot revoke itself; revoke it with another admin key or `docent keys revoke`.',
      );
    }
    keys.revoke(pathParameter(request, 'id'));
    response.status(204).end();
  });

  return router;
}

function collectionOf(job: JobInfo): string | undefined {
  if (job.type === 'ingest' || job.type === 'reindex') return job.payload.collection;
  return undefined;
}

/** Returns a job without internal references such as blob keys. */
function publicJob(job: JobInfo) {
  const payload: Record<string, unknown> = { ...job.payload };
  delete payload.blobRef;
  delete payload.resultRef;
  return {
    id: job.id,
    type: job.type,
    state: job.state,
    payload,
    progress: job.progress,
    attemptsMade: job.attemptsMade,
    maxAttempts: job.maxAttempts,
    result: job.result,
    failedReason: job.failedReason,
    failedCode: job.failedCode,
    createdAt: job.createdAt,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
  };
}
