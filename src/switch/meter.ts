/**
 * `xvs port meter` (Hyper-V's Measure-VM / Reset-VMResourceMetering) on the control plane: the workers
 * count bytes and packets per port ACL entry in their PolicyCounters blocks (policy/counters.ts, meter
 * area; written only by the workers), and a reset is a baseline kept here, never a write to shared memory.
 *
 * A baseline belongs to one entry (its index and its text): after the port's ACL list changes, an entry that
 * moved or changed counts from what the workers hold for it. Counts that went below the baseline (the workers
 * started a new record for the entry) are read as they are.
 */
import type { PortAcl } from '../config/types.js';
import { METER_FIELDS, PolicyCounters } from '../policy/counters.js';
import type { MeterEntry, MeterReport } from './manager-api.js';

type Counts = [number, number, number, number];

interface Baseline {
  since: string;
  /** per ACL index: the entry it was taken for and its counts then */
  entries: Map<number, { key: string; counts: Counts }>;
}

export class MeterBaselines {
  private readonly base = new Map<string, Baseline>();
  private readonly started = new Date().toISOString();

  /** Port `name` (data-path index `index`) with ACL list `acls`: its meter entries' counts since the last reset. */
  report(switchName: string, name: string, index: number, acls: readonly PortAcl[], blocks: readonly PolicyCounters[], reset: boolean): MeterReport {
    const base = this.base.get(name);
    const entries: MeterEntry[] = [];
    const raw = new Map<number, { key: string; counts: Counts }>();
    acls.forEach((acl, k) => {
      const slot = PolicyCounters.meter(index, k);
      const now = METER_FIELDS.map((_, f) => PolicyCounters.sum(blocks, slot + f)) as Counts;
      const key = JSON.stringify(acl);
      raw.set(k, { key, counts: now });
      if (acl.action !== 'meter') return;
      const b = base?.entries.get(k);
      const from = b && b.key === key && now.every((v, f) => v >= b.counts[f]) ? b.counts : [0, 0, 0, 0];
      const d = now.map((v, f) => v - from[f]);
      entries.push({
        index: k, direction: acl.direction,
        ...(acl.localIPAddress !== undefined ? { localAddress: acl.localIPAddress } : {}),
        ...(acl.remoteIPAddress !== undefined ? { remoteAddress: acl.remoteIPAddress } : {}),
        inboundBytes: d[0], inboundPackets: d[1], outboundBytes: d[2], outboundPackets: d[3],
      });
    });
    const sum = (f: keyof MeterEntry & `${string}${'Bytes' | 'Packets'}`): number => entries.reduce((n, e) => n + e[f], 0);
    const out: MeterReport = {
      switch: switchName, port: name, since: base?.since ?? this.started, entries,
      totals: { inboundBytes: sum('inboundBytes'), inboundPackets: sum('inboundPackets'), outboundBytes: sum('outboundBytes'), outboundPackets: sum('outboundPackets') },
    };
    if (reset) {
      this.base.set(name, { since: new Date().toISOString(), entries: raw });
      out.reset = true;
    }
    return out;
  }

  /** the port left the switch: a port of that name added later counts from its own start */
  forget(name: string): void {
    this.base.delete(name);
  }
}
