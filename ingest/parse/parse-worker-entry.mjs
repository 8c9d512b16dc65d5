// Worker threads do not inherit the parent's module loader hooks, so the worker registers tsx
// itself before loading the TypeScript parser. This works under vitest and under bin/docent.js.
import { register } from 'tsx/esm/api';

register();
await import('./parse-worker.ts');
