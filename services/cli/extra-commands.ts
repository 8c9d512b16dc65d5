import type { Command } from 'commander';
import { registerModelCommands } from './model-commands.ts';
import { registerServerCommands } from './server-commands.ts';

/** Registers the commands of the server, worker and model stages. */
export function registerExtraCommands(program: Command): void {
  registerServerCommands(program);
  registerModelCommands(program);
}
