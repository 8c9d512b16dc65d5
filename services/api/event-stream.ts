import type { Response } from 'express';

/** Interval of SSE comment lines that keep idle proxies from closing a slow stream. */
const KEEP_ALIVE_MS = 15_000;

export interface EventStream {
  /** Sends one server-sent event with `data` as JSON; a no-op once the client has gone. */
  send(event: string, data: unknown): void;
  /** Sends a raw `data:` line without an event name, as OpenAI-style streams do. */
  sendData(data: string): void;
  end(): void;
}

/** Switches `response` to `text/event-stream` and returns a writer for it. */
export function openEventStream(response: Response): EventStream {
  response.status(200);
  response.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
  response.setHeader('Cache-Control', 'no-cache, no-transform');
  response.setHeader('Connection', 'keep-alive');
  response.setHeader('X-Accel-Buffering', 'no');
  response.flushHeaders();

  const keepAlive = setInterval(() => write(': keep-alive\n\n'), KEEP_ALIVE_MS);
  keepAlive.unref();
  response.on('close', () => clearInterval(keepAlive));

  function write(text: string): void {
    if (!response.writableEnded && !response.destroyed) response.write(text);
  }

  return {
    send(event, data) {
      write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    },
    sendData(data) {
      write(`data: ${data}\n\n`);
    },
    end() {
      clearInterval(keepAlive);
      if (!response.writableEnded) response.end();
    },
  };
}

/**
 * Returns a signal that aborts when the client disconnects before the response ended, so
 * that generation for a closed tab stops.
 */
export function disconnectSignal(response: Response): AbortSignal {
  const controller = new AbortController();
  response.on('close', () => {
    if (!response.writableFinished) controller.abort(new Error('The client disconnected.'));
  });
  return controller.signal;
}
