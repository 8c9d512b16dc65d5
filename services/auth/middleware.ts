import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { DocentError } from '../../core/errors.ts';
import type { ApiKeyRecord, KeyStore, Role } from './key-store.ts';
import { roleAtLeast } from './key-store.ts';
import { RateLimiter } from './rate-limiter.ts';

declare module 'express-serve-static-core' {
  interface Request {
    /** The API key that authenticated this request; set by `authenticate`. */
    apiKey?: ApiKeyRecord;
  }
}

/**
 * Reads `Authorization: Bearer <key>`, looks the key up and applies its rate limit. Raises
 * UNAUTHORIZED for a missing or unknown key and RATE_LIMITED past the key's limit.
 */
export function authenticate(keys: KeyStore, rateLimitPerMinute: number): RequestHandler {
  const limiter = new RateLimiter(rateLimitPerMinute);
  return (request: Request, response: Response, next: NextFunction) => {
    const header = request.get('authorization');
    const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (match?.[1] === undefined) {
      throw new DocentError(
        'UNAUTHORIZED',
        'Missing API key: send it as "Authorization: Bearer <key>". Create one with `docent keys create --role reader`.',
      );
    }
    const record = keys.verify(match[1]);
    if (record === undefined) {
      throw new DocentError('UNAUTHORIZED', 'Invalid API key: it is unknown or was revoked.');
    }

    const decision = limiter.take(record.id);
    response.setHeader('RateLimit-Limit', String(rateLimitPerMinute));
    response.setHeader('RateLimit-Remaining', String(decision.remaining));
    if (!decision.allowed) {
      response.setHeader('Retry-After', String(decision.retryAfterSeconds));
      throw new DocentError(
        'RATE_LIMITED',
        `Rate limit of ${rateLimitPerMinute} requests per minute exceeded for this API key; retry after ${decision.retryAfterSeconds} s.`,
      );
    }
    request.apiKey = record;
    next();
  };
}

/** Raises FORBIDDEN unless the request's key has `role` or a higher one. */
export function requireRole(role: Role): RequestHandler {
  return (request, _response, next) => {
    const key = requireKey(request);
    if (!roleAtLeast(key.role, role)) {
      throw new DocentError(
        'FORBIDDEN',
        `This API key has the ${key.role} role; this request needs ${role}.`,
      );
    }
    next();
  };
}

export function requireKey(request: Request): ApiKeyRecord {
  if (request.apiKey === undefined) throw new DocentError('UNAUTHORIZED', 'Missing API key.');
  return request.apiKey;
}

/** True when the key may use `collection`: unscoped keys may use every collection. */
export function canUseCollection(key: ApiKeyRecord, collection: string): boolean {
  return key.collections === null || key.collections.includes(collection);
}

/** Raises FORBIDDEN unless the request's key may use `collection`. */
export function assertCollectionAccess(request: Request, collection: string): void {
  const key = requireKey(request);
  if (!canUseCollection(key, collection)) {
    throw new DocentError(
      'FORBIDDEN',
      `This API key is limited to the collections ${(key.collections ?? []).join(', ')}; it may not use "${collection}".`,
    );
  }
}
