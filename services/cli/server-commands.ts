import { Option, type Command } from 'commander';
import { loadConfig, type Config } from '../../core/config.ts';
import { DocentError } from '../../core/errors.ts';
import { createLogger, type Logger } from '../../core/logger.ts';
import { KeyStore, ROLES, isRole } from '../auth/key-store.ts';
import { openDocent } from '../runtime.ts';
import type { RunningServer } from '../server.ts';
import { positiveInteger } from './options.ts';

/** Registers `serve`, `worker` and `keys`. */
export function registerServerCommands(program: Command): void {
  program
    .command('serve')
    .description(
      'Serve the REST API and the portal; without REDIS_URL it also runs the job workers in-process',
    )
    .option('--host <address>', 'address to bind (default: DOCENT_HOST)')
    .option('--port <port>', 'port to listen on, 0 for any free port (default: DOCENT_PORT)', portNumber)
    .option('--no-ingest', 'leave ingest jobs to `docent worker` processes (needs REDIS_URL)')
    .action(async (options: { host?: string; port?: number; ingest: boolean }) => {
      const base = loadConfig();
      const config: Config = {
        ...base,
        server: {
          ...base.server,
          host: options.host ?? base.server.host,
          port: options.port ?? base.server.port,
        },
      };
      if (!options.ingest && config.redisUrl === undefined) {
        throw new DocentError(
          'INVALID_ARGUMENT',
          '--no-ingest needs REDIS_URL, so that `docent worker` processes can take the ingest jobs.',
        );
      }
      const logger = createLogger(config.logLevel, { format: config.logFormat });
      const docent = await openDocent({ config, logger });
      let server: RunningServer;
      try {
        // Imported here so that other commands do not load Express and BullMQ.
        const { startServer } = await import('../server.ts');
        server = await startServer({
          config,
          logger,
          docent,
          ingestConcurrency: options.ingest ? config.queue.workerConcurrency : 0,
        });
      } catch (error) {
        await docent.close();
        throw error;
      }
      // Created only once the server listens, so that a failed start does not use up the one printing.
      const firstKey = createFirstAdminKey(config);
      console.log(`Docent is listening on ${server.url} (portal: ${server.url}/, API: ${server.url}/v1)`);
      if (firstKey === undefined) {
        console.log(
          'API keys exist already, so none was created. Make a new admin key with `docent keys create --role admin`.',
        );
      } else {
        console.log(
          [
            'Created the first admin API key. It is shown only this once, so keep it:',
            `  ${firstKey}`,
            `Open the portal with it: ${server.url}/#key=${firstKey}`,
            'Create more keys with `docent keys create --role reader|writer|admin`.',
          ].join('\n'),
        );
      }
      await untilSignal(logger, () => server.close());
    });

  program
    .command('worker')
    .description('Parse, chunk and embed uploaded documents from the Redis queue (needs REDIS_URL)')
    .option(
      '--concurrency <n>',
      'ingest jobs run at once (default: DOCENT_WORKER_CONCURRENCY)',
      positiveInteger,
    )
    .action(async (options: { concurrency?: number }) => {
      const config = loadConfig();
      const logger = createLogger(config.logLevel, { name: 'docent-worker', format: config.logFormat });
      const { runWorker } = await import('../worker.ts');
      const worker = runWorker({
        config,
        logger,
        ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
      });
      console.log('Docent worker is running; stop it with Ctrl-C or SIGTERM.');
      await untilSignal(logger, () => worker.close());
    });

  const keys = program
    .command('keys')
    .description('Manage API keys (stored hashed in DOCENT_DATA_DIR/auth.db)');
  keys
    .command('create')
    .description('Create an API key and print it once')
    .addOption(new Option('--role <role>', 'what the key may do').choices(ROLES).makeOptionMandatory())
    .option('--collection <name...>', 'limit the key to these collections (repeatable)')
    .option('--label <text>', 'note shown in `docent keys list`')
    .action((options: { role: string; collection?: string[]; label?: string }) => {
      if (!isRole(options.role)) throw new DocentError('INVALID_ARGUMENT', `Invalid role ${options.role}.`);
      const role = options.role;
      withKeyStore((store) => {
        const { key, record } = store.create({
          role,
          ...(options.collection === undefined ? {} : { collections: options.collection }),
          ...(options.label === undefined ? {} : { label: options.label }),
        });
        console.log(key);
        console.error(
          `Created ${record.role} key ${record.id}${record.collections === null ? '' : ` for ${record.collections.join(', ')}`}. It is shown only once.`,
        );
      });
    });
  keys
    .command('list')
    .description('List API keys (ids and roles, never the keys)')
    .action(() => {
      withKeyStore((store) => {
        for (const record of store.list()) {
          const scope = record.collections === null ? 'all collections' : record.collections.join(', ');
          console.log(
            `${record.id}  ${record.role.padEnd(6)}  ${scope}  created ${record.createdAt}${record.label === null ? '' : `  ${record.label}`}`,
          );
        }
      });
    });
  keys
    .command('revoke')
    .description('Revoke an API key by id')
    .argument('<id>', 'key id from `docent keys list`')
    .action((id: string) => {
      withKeyStore((store) => {
        store.revoke(id);
        console.log(`Revoked key ${id}.`);
      });
    });
}

function withKeyStore(run: (store: KeyStore) => void): void {
  const store = KeyStore.open(loadConfig().dataDir);
  try {
    run(store);
  } finally {
    store.close();
  }
}

/**
 * Creates an admin key on the first start (when no key exists) and returns it, to be printed
 * once with a portal link that carries it in the URL fragment, which browsers never send.
 */
function createFirstAdminKey(config: Config): string | undefined {
  const store = KeyStore.open(config.dataDir);
  try {
    if (store.count() > 0) return undefined;
    return store.create({ role: 'admin', label: 'created on first start' }).key;
  } finally {
    store.close();
  }
}

/** Waits for SIGTERM or SIGINT, then runs `stop` once; a second signal exits at once. */
function untilSignal(logger: Logger, stop: () => Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        logger.warn({ signal }, 'Second signal: exiting without waiting for jobs');
        process.exit(1);
      }
      stopping = true;
      logger.info({ signal }, 'Stopping');
      stop().then(resolve, reject);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

function portNumber(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new DocentError('INVALID_ARGUMENT', `Invalid port "${value}": use an integer from 0 to 65535.`);
  }
  return port;
}
