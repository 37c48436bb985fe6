// Worker-thread entry of tools/fuzz.ts. Node 20 does not apply tsx's loader hooks to worker
// threads, so the worker registers them itself before loading the TypeScript.
import { register } from 'tsx/esm/api';

register();
await import('./fuzz.ts');
