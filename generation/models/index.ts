export { pullModel, type PullOptions, type PullResult, type PulledFile, type PullProgress } from './pull.ts';
export { listModels, type InstalledModel } from './list.ts';
export { MODEL_PRESETS, resolvePreset, type ModelPreset } from './presets.ts';
