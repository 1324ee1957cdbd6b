/**
 * The part of the metrics and dashboard tests that is the same for both opt-in listeners (the daemon's
 * OptInListener): a listen address restored onto an address another process holds, then moved.
 */
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { freePort } from '../hnv/etcd-testing.js';
import type { TestDaemon } from './daemon.js';

export interface HeldAddressOutcome {
  /** `daemon status --json` after the restart onto the held address */
  readonly whileHeld: { problems: { field: string; message: string }[] } & Record<string, unknown>;
  /** the HTTP status of `path` on the other address applied next */
  readonly movedStatus: number;
  /** `daemon status --json` problems after that */
  readonly problemsAfterMove: unknown[];
}

/**
 * Applies `{key: {listen: 127.0.0.1:port}}` through `file`, restarts the daemon while another process holds
 * that address (the daemon must still start), reads `daemon status`, then applies a free address and fetches
 * `path` there.
 */
export async function restoreOntoHeldAddress(d: TestDaemon, file: string, key: 'metrics' | 'dashboard', port: number, path: string): Promise<HeldAddressOutcome> {
  const apply = (listen: string): void => {
    writeFileSync(file, JSON.stringify({ version: 1, switches: [], [key]: { listen } }));
    const r = d.xvs('config', 'apply', file);
    if (r.code !== 0) throw new Error(`config apply ${key}.listen ${listen}: ${r.err}`);
  };
  apply(`127.0.0.1:${port}`);
  await d.stop();
  const holder = createServer();
  await new Promise<void>((r) => holder.listen(port, '127.0.0.1', r));
  try {
    await d.start();
  } finally {
    await new Promise<void>((r) => holder.close(() => r()));
  }
  const whileHeld = d.json<HeldAddressOutcome['whileHeld']>('daemon', 'status');
  const port2 = await freePort();
  apply(`127.0.0.1:${port2}`);
  const movedStatus = (await fetch(`http://127.0.0.1:${port2}${path}`)).status;
  return { whileHeld, movedStatus, problemsAfterMove: d.json<{ problems: unknown[] }>('daemon', 'status').problems };
}
