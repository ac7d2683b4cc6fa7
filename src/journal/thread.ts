/**
 * Starting a journal module as a worker thread. From the compiled build the module's own URL is the entry point;
 * from TypeScript sources (tests, benches) the thread registers tsx first, then imports the module, which sees its
 * `workerData.role` and runs its thread side.
 */
import { Worker } from 'node:worker_threads';

export function startModuleWorker(moduleUrl: string, data: { role: string; [key: string]: unknown }): Worker {
  if (moduleUrl.endsWith('.ts')) {
    const api = import.meta.resolve('tsx/esm/api');
    const code =
      `import(${JSON.stringify(api)}).then(({ register }) => { register(); ` +
      `return import(${JSON.stringify(moduleUrl)}); });`;
    return new Worker(code, { eval: true, workerData: data });
  }
  return new Worker(new URL(moduleUrl), { workerData: data });
}
