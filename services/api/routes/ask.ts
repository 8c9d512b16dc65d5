import { randomUUID } from 'node:crypto';
import { Router } from 'express';
import { DocentError, toDocentError } from '../../../core/errors.ts';
import type { Answer, Citation, ConversationTurn, SourceChunk } from '../../../generation/types.ts';
import type { MetadataFilter } from '../../../index/store.ts';
import { assertCollectionAccess } from '../../auth/middleware.ts';
import type { ApiContext } from '../context.ts';
import { disconnectSignal, openEventStream } from '../event-stream.ts';
import { askSchema, chatCompletionSchema, parseRequest } from '../schemas.ts';

interface AskInput {
  readonly question: string;
  readonly collection: string;
  readonly topK: number;
  readonly filters?: MetadataFilter | undefined;
  readonly history: readonly ConversationTurn[];
  readonly maxNewTokens?: number | undefined;
  readonly signal: AbortSignal;
}

/** Events of one answer, as the engine streams them. */
type AskEvent =
  | { type: 'sources'; sources: SourceChunk[] }
  | { type: 'token'; text: string }
  | { type: 'citation'; citation: Citation }
  | { type: 'done'; answer: Answer };

export function askRoutes(context: ApiContext): Router {
  const router = Router();
  const { conversations, metrics } = context;

  async function* ask(input: AskInput): AsyncGenerator<AskEvent> {
    for await (const event of context.docent.askStream(input.question, {
      collection: input.collection,
      topK: input.topK,
      history: input.history,
      signal: input.signal,
      ...(input.filters === undefined ? {} : { filters: input.filters }),
      ...(input.maxNewTokens === undefined ? {} : { maxNewTokens: input.maxNewTokens }),
    })) {
      if (event.type === 'done') metrics.recordGeneration(event.answer.usage);
      yield event;
    }
  }

  router.post('/ask', async (request, response) => {
    const body = parseRequest(askSchema, request.body);
    assertCollectionAccess(request, body.collection);
    const conversation = conversations.open(body.conversationId);
    const input: AskInput = {
      question: body.question,
      collection: body.collection,
      topK: body.topK,
      filters: body.filters,
      history: conversation.history,
      signal: disconnectSignal(response),
    };

    if (!body.stream) {
      let sources: SourceChunk[] = [];
      for await (const event of ask(input)) {
        if (event.type === 'sources') sources = event.sources;
        if (event.type !== 'done') continue;
        conversations.append(conversation.id, body.question, event.answer.answer);
        response.json({ ...answerBody(event.answer), sources, conversationId: conversation.id });
        return;
      }
      throw new DocentError('INTERNAL', 'The generator ended without an answer');
    }

    const stream = openEventStream(response);
    try {
      for await (const event of ask(input)) {
        if (event.type === 'sources')
          stream.send('sources', { sources: event.sources, conversationId: conversation.id });
        else if (event.type === 'token') stream.send('token', { text: event.text });
        else if (event.type === 'citation') stream.send('citation', event.citation);
        else {
          conversations.append(conversation.id, body.question, event.answer.answer);
          stream.send('done', { ...answerBody(event.answer), conversationId: conversation.id });
        }
      }
    } catch (error) {
      if (!input.signal.aborted) {
        const failure = toDocentError(error);
        if (failure.code === 'INTERNAL') context.logger.error({ err: error }, 'Streaming an answer failed');
        stream.send('error', {
          code: failure.code,
          message:
            failure.code === 'INTERNAL' ? 'Internal server error; see the server log.' : failure.message,
        });
      }
    } finally {
      stream.end();
    }
  });

  router.post('/chat/completions', async (request, response) => {
    const body = parseRequest(chatCompletionSchema, request.body);
    assertCollectionAccess(request, body.collection);
    const { question, history } = splitMessages(body.messages);
    const input: AskInput = {
      question,
      collection: body.collection,
      topK: body.top_k,
      history,
      maxNewTokens: body.max_tokens,
      signal: disconnectSignal(response),
    };
    const id = `chatcmpl-${randomUUID()}`;
    const created = Math.floor(Date.now() / 1000);
    const model = context.docent.generator?.id ?? 'docent';

    if (!body.stream) {
      let sources: SourceChunk[] = [];
      for await (const event of ask(input)) {
        if (event.type === 'sources') sources = event.sources;
        if (event.type !== 'done') continue;
        const { answer } = event;
        response.json({
          id,
          object: 'chat.completion',
          created,
          model,
          choices: [
            { index: 0, message: { role: 'assistant', content: answer.answer }, finish_reason: 'stop' },
          ],
          usage: {
            prompt_tokens: answer.usage.promptTokens,
            completion_tokens: answer.usage.generatedTokens,
            total_tokens: answer.usage.promptTokens + answer.usage.generatedTokens,
          },
          sources,
          citations: answer.citations,
        });
        return;
      }
      throw new DocentError('INTERNAL', 'The generator ended without an answer');
    }

    const stream = openEventStream(response);
    const chunk = (
      delta: Record<string, unknown>,
      extra: Record<string, unknown> = {},
      finish: string | null = null,
    ) =>
      JSON.stringify({
        id,
        object: 'chat.completion.chunk',
        created,
        model,
        choices: [{ index: 0, delta, finish_reason: finish }],
        ...extra,
      });
    try {
      for await (const event of ask(input)) {
        if (event.type === 'sources')
          stream.sendData(chunk({ role: 'assistant' }, { sources: event.sources }));
        else if (event.type === 'token') stream.sendData(chunk({ content: event.text }));
        else if (event.type === 'done')
          stream.sendData(chunk({}, { citations: event.answer.citations }, 'stop'));
      }
      stream.sendData('[DONE]');
    } catch (error) {
      if (!input.signal.aborted) {
        const failure = toDocentError(error);
        stream.sendData(JSON.stringify({ error: { code: failure.code, message: failure.message } }));
      }
    } finally {
      stream.end();
    }
  });

  return router;
}

function answerBody(answer: Answer) {
  return {
    answer: answer.answer,
    citations: answer.citations,
    refused: answer.refused,
    generator: answer.generator,
    usage: answer.usage,
  };
}

/** Splits chat messages: the last user message is the question; earlier user and assistant messages are the history. */
function splitMessages(messages: ReadonlyArray<{ role: string; content: string }>): {
  question: string;
  history: ConversationTurn[];
} {
  const lastUser = messages.findLastIndex((message) => message.role === 'user');
  const question = messages[lastUser]?.content.trim() ?? '';
  if (lastUser === -1 || question === '') {
    throw new DocentError('INVALID_ARGUMENT', 'messages must contain a user message with a question.');
  }
  // NOTE: system messages are ignored; the generator uses its own grounded prompt.
  const history = messages
    .slice(0, lastUser)
    .filter(
      (message): message is ConversationTurn => message.role === 'user' || message.role === 'assistant',
    );
  return { question, history };
}
