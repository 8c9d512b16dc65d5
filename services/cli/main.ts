import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { loadConfig } from '../../core/config.ts';
import { isDocentError } from '../../core/errors.ts';
import { exitOnClosedPipe } from './context.ts';
import { registerCorpusCommands } from './corpus-commands.ts';
import { registerEvalCommands } from './eval-commands.ts';
import { registerExtraCommands } from './extra-commands.ts';

exitOnClosedPipe();

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

const program = new Command()
  .name('docent')
  .version(version)
  .description('Ingest documents and answer questions about them with cited sources.')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

registerCorpusCommands(program);
registerEvalCommands(program);
registerExtraCommands(program);

try {
  // Reading the configuration first reports an invalid environment before any work starts.
  loadConfig();
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode === 0 ? 0 : 2;
  } else if (isDocentError(error)) {
    console.error(`docent: ${error.message}`);
    process.exitCode = 1;
  } else {
    console.error('docent: unexpected error:', error);
    process.exitCode = 1;
  }
}
