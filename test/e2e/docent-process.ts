import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(ROOT, 'bin', 'docent.js');

export interface DocentProcess {
  readonly child: ChildProcess;
  /** Everything the process printed so far, stdout and stderr. */
  output(): string;
  /** Sends SIGTERM and resolves with the exit code; kills it after `timeoutMs`. */
  stop(timeoutMs?: number): Promise<number | null>;
  /** Sends SIGKILL, as a crash or `kill -9` would, and resolves once the process has exited. */
  kill(): Promise<void>;
}

export interface DocentServerProcess extends DocentProcess {
  readonly url: string;
  /** The admin key printed on the first start. */
  readonly key: string;
}

function spawnDocent(args: string[], env: Record<string, string>): DocentProcess {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    env: { ...process.env, DOCENT_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));

  return {
    child,
    output: () => output,
    async stop(timeoutMs = 30_000) {
      if (child.exitCode !== null) return child.exitCode;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(timer);
      return child.exitCode;
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/**
 * Starts `docent serve --port 0` on 127.0.0.1 with a fresh data folder in `env` and waits
 * until it prints its address and first admin key.
 */
export async function startDocentServer(
  env: Record<string, string>,
  args: string[] = [],
  timeoutMs = 90_000,
): Promise<DocentServerProcess> {
  const server = spawnDocent(['serve', '--host', '127.0.0.1', '--port', '0', ...args], env);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = server.output();
    const url = /Docent is listening on (http:\/\/[\d.:]+)/.exec(text)?.[1];
    const key = /^\s+(dk_[A-Za-z0-9_-]+)$/m.exec(text)?.[1];
    if (url !== undefined && key !== undefined) return { ...server, url, key };
    if (server.child.exitCode !== null || Date.now() > deadline) {
      await server.stop();
      throw new Error(`docent serve did not start (exit ${server.child.exitCode}):\n${text}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export function startDocentWorker(env: Record<string, string>, args: string[] = []): DocentProcess {
  return spawnDocent(['worker', ...args], env);
}
