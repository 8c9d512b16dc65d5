// Worker threads do not inherit the parent's module loader hooks, so the worker registers tsx
// itself before loading the TypeScript embedder.
import { register } from 'tsx/esm/api';

register();
await import('./use-lite-worker.ts');
