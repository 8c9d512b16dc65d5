import type { Config } from '../../core/config.ts';
import type { Logger } from '../../core/logger.ts';
import type { KeyStore } from '../auth/key-store.ts';
import type { Docent } from '../docent.ts';
import type { JobQueue } from '../queue/job-queue.ts';
import type { ConversationStore } from './conversations.ts';
import type { Ingestion } from './ingestion.ts';
import type { ApiMetrics } from './metrics.ts';

/** What the route handlers of one server share. */
export interface ApiContext {
  readonly config: Config;
  readonly logger: Logger;
  readonly docent: Docent;
  readonly queue: JobQueue;
  readonly ingestion: Ingestion;
  readonly keys: KeyStore;
  readonly metrics: ApiMetrics;
  readonly conversations: ConversationStore;
}
