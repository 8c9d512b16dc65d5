import type { Command } from 'commander';
import { registerServerCommands } from './server-commands.ts';

/** Registers the commands of the server, worker and model stages. */
export async function registerExtraCommands(program: Command): Promise<void> {
  registerServerCommands(program);
  // TODO: register the models commands once that stage exists.
  await Promise.resolve();
}
