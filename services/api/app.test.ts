/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return -- supertest types response bodies as any; the assertions check their shape. */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DocentError } from '../../core/errors.ts';
import type { GenerationEvent, GenerationRequest, Generator } from '../../generation/types.ts';
import { bearer, openTestApp, parseSse, type TestApp } from './test-app.ts';

const CATS = `# Cats

The cat sleeps on the warm mat every afternoon. Cats purr when they are happy.

# Dogs

Dogs bark at the mailman. The dog is a loyal animal that guards the house.
`;

async function upload(
  test: TestApp,
  files: Array<[string, string | Buffer]>,
  fields: Record<string, string> = {},
) {
  let call = request(test.app).post('/v1/documents').set(bearer(test.keys.writer));
  for (const [name, value] of Object.entries(fields)) call = call.field(name, value);
  for (const [filename, content] of files) call = call.attach('files', Buffer.from(content), filename);
  return call;
}

describe('REST API', () => {
  let test: TestApp;
  let documentId: string;

  beforeAll(async () => {
    test = await openTestApp({ env: { DOCENT_MAX_UPLOAD_BYTES: '20000' } });
    const response = await upload(test, [['pets.md', CATS]], {
      collection: 'pets',
      metadata: '{"lang":"en"}',
    });
    expect(response.status).toBe(202);
    documentId = response.body.documents[0].documentId;
    const job = await test.waitForJob(response.body.documents[0].jobId);
    expect(job.state).toBe('completed');
  });

  afterAll(async () => {
    await test.close();
  });

  describe('public routes', () => {
    it('healthz and readyz answer without a key', async () => {
      expect((await request(test.app).get('/v1/healthz')).body).toEqual({ status: 'ok' });
      expect((await request(test.app).get('/v1/readyz')).status).toBe(200);
    });

    it('openapi.json lists routes with request schemas', async () => {
      const response = await request(test.app).get('/v1/openapi.json');
      expect(response.status).toBe(200);
      expect(response.body.openapi).toBe('3.1.0');
      const search = response.body.paths['/search'].post.requestBody.content['application/json'].schema;
      expect(search.properties.mode.enum).toEqual(['hybrid', 'dense', 'sparse']);
      expect(Object.keys(response.body.paths)).toContain('/documents/{id}/chunks');
    });

    it('serves the portal', async () => {
      const response = await request(test.app).get('/');
      expect(response.status).toBe(200);
      expect(response.headers['content-type']).toMatch(/text\/html/);
      expect(response.headers['content-security-policy']).toContain("default-src 'self'");
    });
  });

  describe('auth', () => {
    it('answers 401 without a key', async () => {
      const response = await request(test.app).get('/v1/collections');
      expect(response.status).toBe(401);
      expect(response.body.error.code).toBe('UNAUTHORIZED');
    });

    it('answers 401 for an unknown key', async () => {
      const response = await request(test.app).get('/v1/collections').set(bearer('dk_not-a-real-key'));
      expect(response.status).toBe(401);
    });

    it('answers 403 when a reader writes', async () => {
      const response = await request(test.app)
        .post('/v1/collections')
        .set(bearer(test.keys.reader))
        .send({ name: 'x' });
      expect(response.status).toBe(403);
      expect(response.body.error.code).toBe('FORBIDDEN');
    });

    it('answers 403 when a writer calls admin routes', async () => {
      const response = await request(test.app)
        .post('/v1/admin/reindex')
        .set(bearer(test.keys.writer))
        .send({});
      expect(response.status).toBe(403);
    });

    it('limits a scoped key to its collections', async () => {
      const scoped = test.createKey('reader', ['other']);
      const search = await request(test.app)
        .post('/v1/search')
        .set(bearer(scoped))
        .send({ query: 'cat', collection: 'pets' });
      expect(search.status).toBe(403);
      const list = await request(test.app).get('/v1/collections').set(bearer(scoped));
      expect(list.body.collections).toEqual([]);
      const document = await request(test.app).get(`/v1/documents/${documentId}`).set(bearer(scoped));
      expect(document.status).toBe(403);
    });

    it('answers 429 past the rate limit', async () => {
      const limited = await openTestApp({ env: { DOCENT_RATE_LIMIT_PER_MINUTE: '3' } });
      try {
        const statuses: number[] = [];
        for (let index = 0; index < 5; index++) {
          statuses.push(
            (await request(limited.app).get('/v1/collections').set(bearer(limited.keys.reader))).status,
          );
        }
        expect(statuses.slice(0, 3)).toEqual([200, 200, 200]);
        expect(statuses[3]).toBe(429);
        const response = await request(limited.app).get('/v1/collections').set(bearer(limited.keys.reader));
        expect(response.body.error.code).toBe('RATE_LIMITED');
        expect(Number(response.headers['retry-after'])).toBeGreaterThan(0);
        // Another key has its own budget.
        expect(
          (await request(limited.app).get('/v1/collections').set(bearer(limited.keys.admin))).status,
        ).toBe(200);
      } finally {
        await limited.close();
      }
    });

    it('creates, lists and revokes keys as admin', async () => {
      const created = await request(test.app)
        .post('/v1/admin/keys')
        .set(bearer(test.keys.admin))
        .send({ role: 'reader', collections: ['pets'], label: 'ci' });
      expect(created.status).toBe(201);
      expect(created.body.key).toMatch(/^dk_/);
      const listed = await request(test.app).get('/v1/admin/keys').set(bearer(test.keys.admin));
      expect(listed.body.keys.some((key: { id: string }) => key.id === created.body.id)).toBe(true);
      expect(JSON.stringify(listed.body)).not.toContain(created.body.key);
      expect((await request(test.app).get('/v1/collections').set(bearer(created.body.key))).status).toBe(200);
      const revoked = await request(test.app)
        .delete(`/v1/admin/keys/${created.body.id}`)
        .set(bearer(test.keys.admin));
      expect(revoked.status).toBe(204);
      expect((await request(test.app).get('/v1/collections').set(bearer(created.body.key))).status).toBe(401);
    });
  });

  describe('collections', () => {
    it('creates, lists and deletes a collection', async () => {
      const created = await request(test.app)
        .post('/v1/collections')
        .set(bearer(test.keys.writer))
        .send({ name: 'tmp' });
      expect(created.status).toBe(201);
      expect(created.body.name).toBe('tmp');
      const again = await request(test.app)
        .post('/v1/collections')
        .set(bearer(test.keys.writer))
        .send({ name: 'tmp' });
      expect(again.status).toBe(409);
      const listed = await request(test.app).get('/v1/collections').set(bearer(test.keys.reader));
      expect(listed.body.collections.map((collection: { name: string }) => collection.name)).toContain('tmp');
      const byReader = await request(test.app).delete('/v1/collections/tmp').set(bearer(test.keys.reader));
      expect(byReader.status).toBe(403);
      const deleted = await request(test.app).delete('/v1/collections/tmp').set(bearer(test.keys.writer));
      expect(deleted.status).toBe(204);
      const missing = await request(test.app).delete('/v1/collections/tmp').set(bearer(test.keys.admin));
      expect(missing.status).toBe(404);
    });

    it('rejects an invalid name with the field in the message', async () => {
      const response = await request(test.app)
        .post('/v1/collections')
        .set(bearer(test.keys.writer))
        .send({ name: '../x' });
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe('INVALID_ARGUMENT');
      expect(response.body.error.message).toContain('name');
    });
  });

  describe('documents', () => {
    it('returns an indexed document with chunks and pages', async () => {
      const response = await request(test.app)
        .get(`/v1/documents/${documentId}`)
        .set(bearer(test.keys.reader));
      expect(response.status).toBe(200);
      expect(response.body.status).toBe('indexed');
      expect(response.body.chunkCount).toBeGreaterThan(0);
      expect(response.body.metadata).toEqual({ lang: 'en' });
      expect(Array.isArray(response.body.pages)).toBe(true);

      const chunks = await request(test.app)
        .get(`/v1/documents/${documentId}/chunks`)
        .set(bearer(test.keys.reader));
      expect(chunks.body.chunks).toHaveLength(response.body.chunkCount);
      expect(chunks.body.chunks[0].text).toContain('cat');
    });

    it('lists documents filtered by collection and status', async () => {
      const indexed = await request(test.app)
        .get('/v1/documents?collection=pets&status=indexed')
        .set(bearer(test.keys.reader));
      expect(indexed.body.documents.map((document: { id: string }) => document.id)).toContain(documentId);
      const failed = await request(test.app)
        .get('/v1/documents?collection=pets&status=failed')
        .set(bearer(test.keys.reader));
      expect(failed.body.documents).toEqual([]);
      const invalid = await request(test.app).get('/v1/documents?status=lost').set(bearer(test.keys.reader));
      expect(invalid.status).toBe(400);
    });

    it('returns the existing id for an identical upload', async () => {
      const response = await upload(test, [['copy-of-pets.md', CATS]], { collection: 'pets' });
      expect(response.status).toBe(202);
      expect(response.body.documents[0]).toMatchObject({ documentId, duplicate: true, jobId: null });
    });

    it('answers 404 for an unknown document', async () => {
      const response = await request(test.app).get('/v1/documents/nope').set(bearer(test.keys.reader));
      expect(response.status).toBe(404);
      expect(response.body.error.code).toBe('NOT_FOUND');
    });

    it('answers 413 for a file over the limit and stores nothing', async () => {
      const before = test.docent.store.listDocuments({ collection: 'big' }).length;
      const response = await upload(test, [['big.txt', 'word '.repeat(10_000)]], { collection: 'big' });
      expect(response.status).toBe(413);
      expect(response.body.error.code).toBe('PAYLOAD_TOO_LARGE');
      expect(test.docent.store.getCollection('big')).toBeUndefined();
      expect(before).toBe(0);
    });

    it('answers 413 from Content-Length before reading the body', async () => {
      const response = await request(test.app)
        .post('/v1/documents')
        .set(bearer(test.keys.writer))
        .set('Content-Type', 'multipart/form-data; boundary=x')
        .set('Content-Length', String(20_000 * 1000))
        .send('');
      expect(response.status).toBe(413);
    });

    it('answers 413 for a JSON body over the limit', async () => {
      const response = await request(test.app)
        .post('/v1/search')
        .set(bearer(test.keys.reader))
        .send({ query: 'x'.repeat(2 * 1024 * 1024) });
      expect(response.status).toBe(413);
    });

    it('reports an empty file per file while accepting the others', async () => {
      const response = await upload(
        test,
        [
          ['empty.txt', ''],
          ['note.txt', 'A short note about parrots.'],
        ],
        { collection: 'mixed' },
      );
      expect(response.status).toBe(202);
      expect(response.body.documents[0].error.code).toBe('EMPTY_DOCUMENT');
      expect(response.body.documents[1].jobId).toEqual(expect.any(String));
      await test.waitForJob(response.body.documents[1].jobId);
    });

    it('records a parse failure once with its reason', async () => {
      const response = await upload(test, [['broken.pdf', '%PDF-1.7\nthis is not a real pdf']], {
        collection: 'mixed',
      });
      const job = await test.waitForJob(response.body.documents[0].jobId);
      expect(job.state).toBe('failed');
      expect(job.attemptsMade).toBe(1);
      await waitFor(async () => {
        const document = await request(test.app)
          .get(`/v1/documents/${response.body.documents[0].documentId}`)
          .set(bearer(test.keys.reader));
        return document.body.status === 'failed' ? document.body : undefined;
      });
    });

    it('rejects an upload without files and bad metadata', async () => {
      const none = await request(test.app)
        .post('/v1/documents')
        .set(bearer(test.keys.writer))
        .field('collection', 'pets');
      expect(none.status).toBe(400);
      const onlyEmpty = await upload(test, [['empty.txt', '']]);
      expect(onlyEmpty.status).toBe(422);
      expect(onlyEmpty.body.error.code).toBe('EMPTY_DOCUMENT');
      const badMetadata = await upload(test, [['a.txt', 'alpha beta']], { metadata: '[1,2]' });
      expect(badMetadata.status).toBe(400);
      expect(badMetadata.body.error.message).toContain('metadata');
    });

    it('deletes a document through a job', async () => {
      const uploaded = await upload(test, [['gone.txt', 'This document will be deleted soon.']], {
        collection: 'pets',
      });
      const id = uploaded.body.documents[0].documentId;
      await test.waitForJob(uploaded.body.documents[0].jobId);
      const deleted = await request(test.app).delete(`/v1/documents/${id}`).set(bearer(test.keys.writer));
      expect(deleted.status).toBe(202);
      await test.waitForJob(deleted.body.jobId);
      expect((await request(test.app).get(`/v1/documents/${id}`).set(bearer(test.keys.reader))).status).toBe(
        404,
      );
    });
  });

  describe('search', () => {
    it('returns chunks with dense, sparse and fused ranks', async () => {
      const response = await request(test.app)
        .post('/v1/search')
        .set(bearer(test.keys.reader))
        .send({ query: 'where does the cat sleep', collection: 'pets', topK: 3 });
      expect(response.status).toBe(200);
      const [first] = response.body.results;
      expect(first.documentId).toBe(documentId);
      expect(first.text).toContain('cat sleeps');
      expect(first).toHaveProperty('denseRank');
      expect(first).toHaveProperty('sparseRank');
      expect(first.fusedRank).toBe(1);
      expect(typeof first.fusedScore).toBe('number');
      expect(typeof first.start).toBe('number');
    });

    it('supports sparse mode, weighted fusion and filters', async () => {
      const sparse = await request(test.app)
        .post('/v1/search')
        .set(bearer(test.keys.reader))
        .send({ query: 'mailman', collection: 'pets', mode: 'sparse' });
      expect(sparse.body.results[0].text).toContain('mailman');
      expect(sparse.body.results[0].denseRank).toBeNull();
      const weighted = await request(test.app)
        .post('/v1/search')
        .set(bearer(test.keys.reader))
        .send({ query: 'dog', collection: 'pets', fusion: 'weighted', alpha: 0.3, filters: { lang: 'fr' } });
      expect(weighted.status).toBe(200);
      expect(weighted.body.results).toEqual([]);
    });

    it('rejects unknown fields and a missing collection', async () => {
      const unknown = await request(test.app)
        .post('/v1/search')
        .set(bearer(test.keys.reader))
        .send({ query: 'x', colection: 'pets' });
      expect(unknown.status).toBe(400);
      const missing = await request(test.app)
        .post('/v1/search')
        .set(bearer(test.keys.reader))
        .send({ query: 'x', collection: 'nope' });
      expect(missing.status).toBe(404);
    });
  });

  describe('ask', () => {
    const question = { question: 'Where does the cat sleep?', collection: 'pets', topK: 3 };

    it('streams sources first, then tokens and citations, then done', async () => {
      const response = await request(test.app)
        .post('/v1/ask')
        .set(bearer(test.keys.reader))
        .send({ ...question, stream: true })
        .buffer(true)
        .parse((res, callback) => {
          let text = '';
          res.on('data', (chunk: Buffer) => (text += chunk.toString()));
          res.on('end', () => callback(null, text));
        });
      expect(response.headers['content-type']).toMatch(/text\/event-stream/);
      const events = parseSse(response.body as string);
      const names = events.map((event) => event.event);
      expect(names[0]).toBe('sources');
      expect(names.at(-1)).toBe('done');
      expect(names).toContain('token');
      expect(names).toContain('citation');
      expect(names.filter((name) => name === 'done')).toHaveLength(1);
    });

    it('returns the same sources and citations with and without streaming', async () => {
      const plain = await request(test.app).post('/v1/ask').set(bearer(test.keys.reader)).send(question);
      expect(plain.status).toBe(200);
      const streamed = await request(test.app)
        .post('/v1/ask')
        .set(bearer(test.keys.reader))
        .send({ ...question, stream: true })
        .buffer(true)
        .parse((res, callback) => {
          let text = '';
          res.on('data', (chunk: Buffer) => (text += chunk.toString()));
          res.on('end', () => callback(null, text));
        });
      const events = parseSse(streamed.body as string);
      const sources = (events[0]?.data as { sources: unknown[] }).sources;
      const done = events.at(-1)?.data as { answer: string; citations: unknown[] };
      const citations = events.filter((event) => event.event === 'citation').map((event) => event.data);
      expect(sources).toEqual(plain.body.sources);
      expect(done.citations).toEqual(plain.body.citations);
      expect(citations).toEqual(plain.body.citations);
      expect(done.answer).toBe(plain.body.answer);
      expect(plain.body.citations[0].text).toContain('cat sleeps');
    });

    it('keeps a conversation by id', async () => {
      const first = await request(test.app).post('/v1/ask').set(bearer(test.keys.reader)).send(question);
      expect(first.body.conversationId).toEqual(expect.any(String));
      const second = await request(test.app)
        .post('/v1/ask')
        .set(bearer(test.keys.reader))
        .send({ ...question, question: 'And the dog?', conversationId: first.body.conversationId });
      expect(second.status).toBe(200);
      expect(second.body.conversationId).toBe(first.body.conversationId);
    });

    it('answers chat completions in the OpenAI shape with sources', async () => {
      const response = await request(test.app)
        .post('/v1/chat/completions')
        .set(bearer(test.keys.reader))
        .send({
          collection: 'pets',
          messages: [
            { role: 'system', content: 'Be brief.' },
            { role: 'user', content: 'Tell me about pets.' },
            { role: 'assistant', content: 'Cats and dogs.' },
            { role: 'user', content: 'Where does the cat sleep?' },
          ],
        });
      expect(response.status).toBe(200);
      expect(response.body.object).toBe('chat.completion');
      expect(response.body.choices[0].message.role).toBe('assistant');
      expect(response.body.choices[0].message.content).toContain('mat');
      expect(response.body.sources.length).toBeGreaterThan(0);
      expect(response.body.usage).toHaveProperty('total_tokens');
    });

    it('streams chat completions ending with [DONE]', async () => {
      const response = await request(test.app)
        .post('/v1/chat/completions')
        .set(bearer(test.keys.reader))
        .send({
          collection: 'pets',
          stream: true,
          messages: [{ role: 'user', content: 'Where does the cat sleep?' }],
        })
        .buffer(true)
        .parse((res, callback) => {
          let text = '';
          res.on('data', (chunk: Buffer) => (text += chunk.toString()));
          res.on('end', () => callback(null, text));
        });
      const events = parseSse(response.body as string);
      expect(events.at(-1)?.data).toBe('[DONE]');
      expect((events[0]?.data as { sources: unknown[] }).sources.length).toBeGreaterThan(0);
    });

    it('rejects chat without a user message', async () => {
      const response = await request(test.app)
        .post('/v1/chat/completions')
        .set(bearer(test.keys.reader))
        .send({ messages: [{ role: 'system', content: 'hi' }] });
      expect(response.status).toBe(400);
    });
  });

  describe('jobs and admin', () => {
    it('reads and lists jobs', async () => {
      const listed = await request(test.app).get('/v1/jobs?state=completed').set(bearer(test.keys.reader));
      expect(listed.status).toBe(200);
      expect(listed.body.jobs.length).toBeGreaterThan(0);
      expect(listed.body.jobs.every((job: { state: string }) => job.state === 'completed')).toBe(true);
      expect(JSON.stringify(listed.body)).not.toContain('blobRef');
      const job = await request(test.app)
        .get(`/v1/jobs/${listed.body.jobs[0].id}`)
        .set(bearer(test.keys.reader));
      expect(job.body.id).toBe(listed.body.jobs[0].id);
      expect((await request(test.app).get('/v1/jobs/missing-job').set(bearer(test.keys.reader))).status).toBe(
        404,
      );
      expect((await request(test.app).get('/v1/jobs?state=lost').set(bearer(test.keys.reader))).status).toBe(
        400,
      );
    });

    it('reindexes a collection with progress', async () => {
      const started = await request(test.app)
        .post('/v1/admin/reindex')
        .set(bearer(test.keys.admin))
        .send({ collection: 'pets' });
      expect(started.status).toBe(202);
      const job = await test.waitForJob(started.body.jobId);
      expect(job.state).toBe('completed');
      expect(job.progress?.done).toBe(job.progress?.total);
      const search = await request(test.app)
        .post('/v1/search')
        .set(bearer(test.keys.reader))
        .send({ query: 'cat sleeps', collection: 'pets', mode: 'dense' });
      expect(search.body.results[0].text).toContain('cat');
    });

    it('answers 404 when reindexing an unknown collection', async () => {
      const response = await request(test.app)
        .post('/v1/admin/reindex')
        .set(bearer(test.keys.admin))
        .send({ collection: 'nope' });
      expect(response.status).toBe(404);
    });

    it('exposes Prometheus metrics', async () => {
      const response = await request(test.app).get('/v1/metrics').set(bearer(test.keys.reader));
      expect(response.status).toBe(200);
      for (const name of [
        'docent_http_request_duration_seconds',
        'docent_queue_depth',
        'docent_jobs',
        'docent_chunks_indexed_total',
        'docent_generation_tokens_per_second',
      ]) {
        expect(response.text).toContain(name);
      }
      expect(response.text).toMatch(/route="\/v1\/documents\/:id"/);
    });

    it('answers unknown routes with a JSON 404', async () => {
      const response = await request(test.app).get('/v1/nothing').set(bearer(test.keys.reader));
      expect(response.status).toBe(404);
      expect(response.body.error.code).toBe('NOT_FOUND');
    });
  });
});

async function waitFor<T>(check: () => Promise<T | undefined>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Streams numbered tokens slowly and records whether the request's signal aborted it. */
class SlowGenerator implements Generator {
  readonly id = 'slow-test';
  tokensSent = 0;
  sawAbort = false;

  async *stream(request: GenerationRequest): AsyncGenerator<GenerationEvent> {
    for (let index = 0; index < 500; index++) {
      if (request.signal?.aborted === true) {
        this.sawAbort = true;
        throw new Error('generation cancelled');
      }
      this.tokensSent += 1;
      yield { type: 'token', text: ` t${index}` };
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error('the client should have disconnected before the end');
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Fails every request the way a full generation queue does. */
class BusyGenerator implements Generator {
  readonly id = 'busy-test';

  // eslint-disable-next-line require-yield -- a generator that fails before its first event
  async *stream(): AsyncGenerator<GenerationEvent> {
    await Promise.resolve();
    throw new DocentError('BUSY', 'The generation queue is full; retry shortly.');
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

describe('answer streaming', () => {
  it('reports generator errors as JSON or an error event', async () => {
    const test = await openTestApp({ generator: new BusyGenerator() });
    try {
      const uploaded = await upload(test, [['pets.md', CATS]], { collection: 'pets' });
      await test.waitForJob(uploaded.body.documents[0].jobId);
      const question = { question: 'Where does the cat sleep?', collection: 'pets' };

      const plain = await request(test.app).post('/v1/ask').set(bearer(test.keys.reader)).send(question);
      expect(plain.status).toBe(503);
      expect(plain.body.error.code).toBe('BUSY');

      const streamed = await request(test.app)
        .post('/v1/ask')
        .set(bearer(test.keys.reader))
        .send({ ...question, stream: true })
        .buffer(true)
        .parse((res, callback) => {
          let text = '';
          res.on('data', (chunk: Buffer) => (text += chunk.toString()));
          res.on('end', () => callback(null, text));
        });
      const events = parseSse(streamed.body as string);
      expect(events.map((event) => event.event)).toEqual(['sources', 'error']);
      expect(events[1]?.data).toEqual({
        code: 'BUSY',
        message: 'The generation queue is full; retry shortly.',
      });
    } finally {
      await test.close();
    }
  });

  it('cancels generation when the client disconnects', async () => {
    const generator = new SlowGenerator();
    const test = await openTestApp({ generator });
    const server = test.app.listen(0, '127.0.0.1');
    try {
      await once(server, 'listening');
      const { port } = server.address() as AddressInfo;
      const uploaded = await upload(test, [['pets.md', CATS]], { collection: 'pets' });
      await test.waitForJob(uploaded.body.documents[0].jobId);

      const controller = new AbortController();
      const response = await fetch(`http://127.0.0.1:${port}/v1/ask`, {
        method: 'POST',
        headers: { ...bearer(test.keys.reader), 'Content-Type': 'application/json' },
        body: JSON.stringify({ question: 'Where does the cat sleep?', collection: 'pets', stream: true }),
        signal: controller.signal,
      });
      const reader = response.body?.getReader();
      let text = '';
      while (!text.includes('event: token')) {
        const chunk = await reader?.read();
        if (chunk === undefined || chunk.done) break;
        text += new TextDecoder().decode(chunk.value);
      }
      expect(text.indexOf('event: sources')).toBe(0);
      controller.abort();

      const deadline = Date.now() + 5000;
      while (!generator.sawAbort && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 20));
      expect(generator.sawAbort).toBe(true);
      expect(generator.tokensSent).toBeLessThan(500);
    } finally {
      server.close();
      await test.close();
    }
  });
});
