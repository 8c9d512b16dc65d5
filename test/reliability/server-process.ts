import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(ROOT, 'bin', 'docent.js');

/**
 * `docent serve` in a child process on 127.0.0.1 with a fixed data folder and port, so that it
 * can be killed with SIGKILL and started again on the same data.
 */
export class ServerProcess {
  private child: ChildProcess | undefined;
  private text = '';
  private stderr = '';
  /** The admin key printed on the first start; later starts reuse it. */
  adminKey = '';

  constructor(
    readonly port: number,
    private readonly env: Record<string, string>,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Process id of the running server, or undefined before the first start. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Everything every start of the server printed, stdout and stderr. */
  output(): string {
    return this.text;
  }

  /** Returns the log lines (stderr) of every start; stdout carries only the banner and first admin key. */
  logs(): string {
    return this.stderr;
  }

  async start(timeoutMs = 60_000, args: readonly string[] = []): Promise<void> {
    const startedAt = this.text.length;
    const child = spawn(
      process.execPath,
      [CLI, 'serve', '--host', '127.0.0.1', '--port', String(this.port), ...args],
      {
        env: { ...process.env, DOCENT_LOG_LEVEL: 'info', ...this.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    this.child = child;
    child.stdout?.on('data', (chunk: Buffer) => (this.text += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => {
      this.text += chunk.toString();
      this.stderr += chunk.toString();
    });

    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const printed = this.text.slice(startedAt);
      const key = /^\s+(dk_[A-Za-z0-9_-]+)$/m.exec(printed)?.[1];
      if (key !== undefined) this.adminKey = key;
      if (printed.includes('Docent is listening on') && this.adminKey !== '') return;
      if (child.exitCode !== null || Date.now() > deadline)
        throw new Error(`docent serve did not start (exit ${child.exitCode}):\n${printed}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Kills the server at once, as a crash or `kill -9` would. */
  async kill(): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }

  /** Stops the server with SIGTERM and waits for a clean exit. */
  async stop(timeoutMs = 30_000): Promise<number | null> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null)
      return child?.exitCode ?? null;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
    return child.exitCode;
  }

  /** Calls the API with the admin key; `body` is sent as JSON, or as is when it is FormData. */
  async call(
    method: string,
    route: string,
    body?: unknown,
    key = this.adminKey,
    // The body is untyped JSON; callers assert its shape.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
  ): Promise<{ status: number; body: any }> {
    const headers: Record<string, string> = { Authorization: `Bearer ${key}` };
    let payload: BodyInit | undefined;
    if (body instanceof FormData) payload = body;
    else if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    const response = await fetch(`${this.url}/v1${route}`, {
      method,
      headers,
      ...(payload === undefined ? {} : { body: payload }),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Not JSON: keep the text.
    }
    return { status: response.status, body: parsed };
  }
}

/** Finds a free TCP port on 127.0.0.1 (the port may be taken again before it is used). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
