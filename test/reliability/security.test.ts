/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-call -- supertest types response bodies as any; the assertions check their shape. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeParseWorkers } from '../../ingest/parse/index.ts';
import { openTestApp, type TestApp } from '../../services/api/test-app.ts';
import { ServerProcess } from './server-process.ts';
import { bearer, freePort, uploadAndWait } from './support.ts';

// Security (kind 12). services/api/app.test.ts covers 401 and 403 on single routes, a scoped
// search, the JSON body limit and the 429 rate limit; this file sweeps every route of the
// OpenAPI document, every read of a scoped key and injection through the API, and checks a real
// server's logs for keys.

/** POST routes that only read, and so are open to reader keys. */
const READ_POSTS = new Set(['/search', '/ask', '/chat/completions']);

interface RouteCase {
  readonly method: 'get' | 'post' | 'delete' | 'put' | 'patch';
  readonly route: string;
}

function concrete(route: string): string {
  return route.replace(/\{[^}]+\}/g, 'some-id');
}

describe('API authorisation', () => {
  let test: TestApp;
  let routes: RouteCase[];
  let documentId: string;

  beforeAll(async () => {
    test = await openTestApp();
    const [document] = await uploadAndWait(test, [['secret.txt', 'The vault code of team B is 4711.']], {
      collection: 'team-b',
    });
    documentId = document!.documentId;
    const spec = await request(test.app).get('/v1/openapi.json');
    routes = Object.entries(spec.body.paths as Record<string, Record<string, unknown>>).flatMap(
      ([route, methods]) =>
        Object.keys(methods).map((method) => ({ method: method as RouteCase['method'], route })),
    );
  });

  afterAll(async () => {
    await test.close();
    await closeParseWorkers();
  });

  const isPublic = (route: string) => ['/healthz', '/readyz', '/openapi.json'].includes(route);
  const isWrite = ({ method, route }: RouteCase) => method !== 'get' && !READ_POSTS.has(route);
  const isAdmin = ({ route }: RouteCase) => route.startsWith('/admin');

  it('rejects a missing or wrong key on every non-public route', async () => {
    expect(routes.length).toBeGreaterThan(10);
    for (const entry of routes.filter((candidate) => !isPublic(candidate.route))) {
      const url = `/v1${concrete(entry.route)}`;
      for (const headers of [
        {},
        bearer('dk_wrong-key'),
        bearer(`${test.keys.admin}x`),
        { Authorization: `Basic ${Buffer.from(`user:${test.keys.admin}`).toString('base64')}` },
        { Authorization: test.keys.admin },
      ]) {
        const response = await request(test.app)[entry.method](url).set(headers).send({});
        expect(response.status, `${entry.method} ${url} ${JSON.stringify(headers).slice(0, 30)}`).toBe(401);
        expect(response.body.error.code).toBe('UNAUTHORIZED');
      }
    }
  });

  it('refuses readers on write routes and writers on admin routes', async () => {
    for (const entry of routes.filter((candidate) => !isPublic(candidate.route))) {
      const url = `/v1${concrete(entry.route)}`;
      if (isWrite(entry)) {
        const response = await request(test.app)[entry.method](url).set(bearer(test.keys.reader)).send({});
        expect(response.status, `reader ${entry.method} ${url}`).toBe(403);
      }
      if (isAdmin(entry)) {
        const response = await request(test.app)[entry.method](url).set(bearer(test.keys.writer)).send({});
        expect(response.status, `writer ${entry.method} ${url}`).toBe(403);
      }
    }
  });

  it('keeps a scoped key out of other collections on every route', async () => {
    const reader = test.createKey('reader', ['team-a']);
    const writer = test.createKey('writer', ['team-a']);
    const denied: Array<[string, request.Test]> = [
      [
        'search',
        request(test.app)
          .post('/v1/search')
          .set(bearer(reader))
          .send({ query: 'vault', collection: 'team-b' }),
      ],
      [
        'ask',
        request(test.app)
          .post('/v1/ask')
          .set(bearer(reader))
          .send({ question: 'What is the vault code?', collection: 'team-b' }),
      ],
      [
        'chat',
        request(test.app)
          .post('/v1/chat/completions')
          .set(bearer(reader))
          .send({ collection: 'team-b', messages: [{ role: 'user', content: 'vault code?' }] }),
      ],
      ['document', request(test.app).get(`/v1/documents/${documentId}`).set(bearer(reader))],
      ['chunks', request(test.app).get(`/v1/documents/${documentId}/chunks`).set(bearer(reader))],
      ['list', request(test.app).get('/v1/documents?collection=team-b').set(bearer(reader))],
      ['delete', request(test.app).delete(`/v1/documents/${documentId}`).set(bearer(writer))],
      [
        'upload',
        request(test.app)
          .post('/v1/documents')
          .set(bearer(writer))
          .field('collection', 'team-b')
          .attach('files', Buffer.from('Planted text.'), 'planted.txt'),
      ],
    ];
    for (const [name, call] of denied) {
      const response = await call;
      expect(response.status, name).toBe(403);
      expect(JSON.stringify(response.body), name).not.toContain('4711');
    }
    // Listing without a collection shows none of team B's documents.
    const all = await request(test.app).get('/v1/documents').set(bearer(reader));
    expect(all.status).toBe(200);
    expect(all.body.documents.map((document: { id: string }) => document.id)).not.toContain(documentId);
    // The default collection is a collection like any other.
    const chat = await request(test.app)
      .post('/v1/chat/completions')
      .set(bearer(reader))
      .send({ messages: [{ role: 'user', content: 'vault code?' }] });
    expect([403, 404]).toContain(chat.status);
  });

  it('passes FTS5 syntax and SQL in queries and filters as data', async () => {
    for (const query of [
      '"unbalanced',
      'NEAR(vault code, 2)',
      'vault*',
      'code:4711',
      '") OR 1=1 --',
      "'; DROP TABLE chunks; --",
      '^vault',
      'a AND OR NOT b',
    ]) {
      const response = await request(test.app)
        .post('/v1/search')
        .set(bearer(test.keys.reader))
        .send({ query, collection: 'team-b', mode: 'sparse' });
      expect(response.status, query).toBe(200);
    }
    for (const filters of [{ lang: "x' OR '1'='1" }, { lang: ['x', "') OR 1=1 --"] }]) {
      const response = await request(test.app)
        .post('/v1/search')
        .set(bearer(test.keys.reader))
        .send({ query: 'vault', collection: 'team-b', filters });
      expect(response.status).toBe(200);
      expect(response.body.results).toEqual([]);
    }
    const badKey = await request(test.app)
      .post('/v1/search')
      .set(bearer(test.keys.reader))
      .send({ query: 'vault', collection: 'team-b', filters: { "lang') OR 1=1 --": 'x' } });
    expect(badKey.status).toBe(400);
    expect(test.docent.store.getDocument(documentId)?.status).toBe('indexed');
  });

  it('limits request bodies on every JSON route', async () => {
    const large = 'x'.repeat(2 * 1024 * 1024);
    for (const [route, body] of [
      ['/v1/ask', { question: large, collection: 'team-b' }],
      ['/v1/chat/completions', { messages: [{ role: 'user', content: large }] }],
      ['/v1/collections', { name: large }],
    ] as const) {
      const response = await request(test.app).post(route).set(bearer(test.keys.admin)).send(body);
      expect(response.status, route).toBe(413);
      expect(response.body.error.code, route).toBe('PAYLOAD_TOO_LARGE');
    }
  });
});

describe('server logs', () => {
  it('never contain an API key', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'docent-logs-'));
    const server = new ServerProcess(await freePort(), {
      DOCENT_DATA_DIR: dataDir,
      DOCENT_EMBEDDER: 'hash:64',
      DOCENT_LOG_LEVEL: 'trace',
    });
    try {
      await server.start();
      const created = await server.call('POST', '/admin/keys', { role: 'writer', label: 'log test' });
      expect(created.status).toBe(201);
      const writer = created.body.key as string;
      const body = new FormData();
      body.append('files', new Blob(['Logs must not leak keys.']), 'logs.txt');
      expect((await server.call('POST', '/documents', body, writer)).status).toBe(202);
      await server.call('POST', '/search', { query: 'keys', collection: 'default' }, writer);
      await server.call('POST', '/search', { query: 'keys' }, `${writer}-wrong`);
      await server.call('GET', '/collections', undefined, writer.slice(0, -1));
      await server.call('POST', '/admin/reindex', {}, writer);
      await server.call('DELETE', '/admin/keys/nope', undefined, server.adminKey);
      expect(await server.stop()).toBe(0);

      const logs = server.logs();
      expect(logs.length).toBeGreaterThan(0);
      for (const key of [server.adminKey, writer, writer.slice(0, -1)]) {
        expect(logs.includes(key), 'a key appears in the log').toBe(false);
        expect(logs.includes(key.slice(3, 20)), 'part of a key appears in the log').toBe(false);
      }
      expect(logs).not.toMatch(/Bearer\s+dk_/);
    } finally {
      await server.kill();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
