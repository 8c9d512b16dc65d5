import type { Command } from 'commander';

/** Registers the commands of the server, worker and model stages. */
export async function registerExtraCommands(_program: Command): Promise<void> {
  // TODO: register serve, worker, keys and models commands once those stages exist.
}
