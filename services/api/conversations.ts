import { randomUUID } from 'node:crypto';
import type { ConversationTurn } from '../../generation/types.ts';

/** Conversations kept; the least recently used one is dropped beyond this. */
const MAX_CONVERSATIONS = 1000;
/** Turns (questions and answers) kept per conversation and passed to the generator. */
const MAX_TURNS = 12;

/**
 * Recent turns of `/ask` conversations, in memory and least recently used first out.
 * NOTE: conversations live in this process only; a restart or a second API process forgets them.
 */
export class ConversationStore {
  private readonly conversations = new Map<string, ConversationTurn[]>();

  /** Returns the id to use (a new one when none is given) and the turns so far. */
  open(id: string | undefined): { id: string; history: readonly ConversationTurn[] } {
    const conversationId = id ?? randomUUID();
    const history = this.conversations.get(conversationId) ?? [];
    return { id: conversationId, history: [...history] };
  }

  append(id: string, question: string, answer: string): void {
    const turns = this.conversations.get(id) ?? [];
    this.conversations.delete(id);
    turns.push({ role: 'user', content: question }, { role: 'assistant', content: answer });
    this.conversations.set(id, turns.slice(-MAX_TURNS));
    if (this.conversations.size > MAX_CONVERSATIONS) {
      const oldest = this.conversations.keys().next().value;
      if (oldest !== undefined) this.conversations.delete(oldest);
    }
  }
}
