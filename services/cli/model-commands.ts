import type { Command } from 'commander';
import { loadConfig } from '../../core/config.ts';
import type { GenerationDtype } from '../../generation/llm/index.ts';
import { listModels, MODEL_PRESETS, pullModel } from '../../generation/models/index.ts';

export function registerModelCommands(program: Command): void {
  const models = program.command('models').description('Download and list local generative models');

  models
    .command('pull')
    .description(
      `Download a model into DOCENT_MODELS_DIR from HF_ENDPOINT (presets: ${MODEL_PRESETS.map((preset) => preset.name).join(', ')})`,
    )
    .argument('<model>', 'preset name or org/name repository id')
    .option('--dtype <dtype>', "weight variant, e.g. q4, q8, fp16, fp32 (default: the preset's)")
    .action(async (model: string, options: { dtype?: string }) => {
      const config = loadConfig();
      let lastFile = '';
      const result = await pullModel({
        model,
        modelsDir: config.modelsDir,
        endpoint: config.hfEndpoint,
        ...(options.dtype === undefined ? {} : { dtype: options.dtype as GenerationDtype }),
        onProgress: (event) => {
          if (!process.stderr.isTTY) {
            if (event.file !== lastFile) console.error(`downloading ${event.file}`);
            lastFile = event.file;
            return;
          }
          const total = event.totalBytes === undefined ? '' : ` of ${(event.totalBytes / 1e6).toFixed(1)} MB`;
          process.stderr.write(`\r\x1b[K${event.file}: ${(event.receivedBytes / 1e6).toFixed(1)} MB${total}`);
        },
      });
      if (process.stderr.isTTY) process.stderr.write('\n');
      console.log(`Installed ${result.id} (${result.dtype}) in ${result.directory}`);
      for (const file of result.files)
        console.log(
          `  ${file.status.padEnd(10)} ${file.path} ${(file.bytes / 1e6).toFixed(1)} MB${file.sha256Verified ? ', sha256 verified' : ''}`,
        );
    });

  models
    .command('list')
    .description('List installed models')
    .option('--json', 'print as JSON')
    .action(async (options: { json?: boolean }) => {
      const config = loadConfig();
      const installed = await listModels(config.modelsDir);
      if (options.json === true) {
        console.log(JSON.stringify(installed, null, 2));
        return;
      }
      if (installed.length === 0)
        console.log(
          `No models installed in ${config.modelsDir}. Download one with \`docent models pull qwen2.5-0.5b\`.`,
        );
      for (const model of installed) {
        console.log(
          `${model.id}  ${model.dtypes.join(', ')}  ${(model.bytes / 1e6).toFixed(0)} MB${model.preset === undefined ? '' : `  (preset ${model.preset})`}`,
        );
      }
    });
}
