import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { dtypeFileSuffix, type GenerationDtype } from '../llm/dtypes.ts';
import { MODEL_PRESETS } from './presets.ts';

export interface InstalledModel {
  /** `org/name`, the directory under DOCENT_MODELS_DIR. */
  readonly id: string;
  readonly directory: string;
  /** Weight variants present in `onnx/`. */
  readonly dtypes: readonly GenerationDtype[];
  /** Bytes of all files in the model directory. */
  readonly bytes: number;
  /** Preset name when the id is a preset's. */
  readonly preset: string | undefined;
}

const REQUIRED = ['config.json', 'tokenizer.json', 'tokenizer_config.json'];

/**
 * Lists causal-LM directories under `modelsDir` in the Transformers.js layout: `<org>/<name>` with
 * the config and tokenizer files and at least one `onnx/model*.onnx`. Directories that lack them
 * (for example embedding models without a tokenizer config) are skipped. Presets come first, in
 * their preference order, then other models by id.
 */
export async function listModels(modelsDir: string): Promise<InstalledModel[]> {
  const models: InstalledModel[] = [];
  for (const org of await directories(modelsDir)) {
    for (const name of await directories(path.join(modelsDir, org))) {
      const directory = path.join(modelsDir, org, name);
      const files = new Set(await readdir(directory).catch(() => [] as string[]));
      if (!REQUIRED.every((file) => files.has(file))) continue;
      const weights = new Set(await readdir(path.join(directory, 'onnx')).catch(() => [] as string[]));
      const dtypes = (Object.keys(dtypeFileSuffix) as GenerationDtype[]).filter((dtype) =>
        weights.has(`model${dtypeFileSuffix[dtype]}.onnx`),
      );
      if (dtypes.length === 0) continue;
      const id = `${org}/${name}`;
      models.push({
        id,
        directory,
        dtypes,
        bytes: await directoryBytes(directory),
        preset: MODEL_PRESETS.find((preset) => preset.id === id)?.name,
      });
    }
  }
  const rank = (model: InstalledModel) => {
    const index = MODEL_PRESETS.findIndex((preset) => preset.id === model.id);
    return index === -1 ? MODEL_PRESETS.length : index;
  };
  return models.sort((a, b) => rank(a) - rank(b) || a.id.localeCompare(b.id));
}

async function directories(parent: string): Promise<string[]> {
  try {
    const entries = await readdir(parent, { withFileTypes: true });
    return entries
      .filter((entry) => entry.isDirectory() && !entry.name.startsWith('.'))
      .map((entry) => entry.name);
  } catch {
    return [];
  }
}

async function directoryBytes(directory: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(directory, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await stat(path.join(entry.parentPath, entry.name))).size;
  }
  return total;
}
