// Worker threads do not inherit the parent's module loader hooks, so the thread registers tsx
// itself before loading the TypeScript module.
import { register } from 'tsx/esm/api';

register();
await import('./prepare-thread-worker.ts');
