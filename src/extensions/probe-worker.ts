/**
 * Loads a plug-in's module in a short-lived worker thread and posts back its metadata
 * (ExtensionMeta: everything but code), so that plug-in code never runs on the control plane's
 * thread: a module that loops, blocks or allocates without bound at import costs this worker only
 * (the registry terminates it after a timeout; it runs with heap limits).
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ExtensionMeta } from './api.js';

export type ProbeResult = { ok: true; meta: ExtensionMeta } | { ok: false; error: string };

const { url } = workerData as { url: string };

async function probe(): Promise<ProbeResult> {
  const mod = (await import(url)) as { default?: unknown };
  const def = mod.default as (ExtensionMeta & { create?: unknown }) | undefined;
  if (!def || typeof def !== 'object' || typeof def.create !== 'function') return { ok: false, error: 'no extension exported as default' };
  const meta: ExtensionMeta = {
    name: def.name, version: def.version, kind: def.kind, doc: def.doc, config: def.config, counters: def.counters,
    ...(def.singleWorker !== undefined ? { singleWorker: def.singleWorker } : {}),
    ...(def.portFeatures !== undefined ? { portFeatures: def.portFeatures } : {}),
  };
  return { ok: true, meta };
}

probe().then(
  (r) => {
    try {
      parentPort!.postMessage(r);
    } catch (e) {
      // e.g. a function inside the config spec: not data
      parentPort!.postMessage({ ok: false, error: `its definition is not plain data: ${(e as Error).message}` } satisfies ProbeResult);
    }
  },
  (e: unknown) => parentPort!.postMessage({ ok: false, error: e instanceof Error ? e.message : String(e) } satisfies ProbeResult),
);
