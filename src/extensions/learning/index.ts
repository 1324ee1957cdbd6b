/**
 * forward `learning`: the switch's built-in learning forwarder, a forwarding extension like any
 * other. It is the switch's forwarder whenever no other forwarding extension is enabled (listed as
 * enabled and running then), is replaced when one is enabled, and comes back when that one is
 * disabled or fails. It uses the switch's shared MAC table through `ctx.fdb`.
 *
 * Per batch: learn every source MAC on the batch's port (one learn per run of frames from one
 * source; nothing is learned from originated frames or while tracing), then choose destinations:
 * group (broadcast/multicast) and unknown unicast flood; a known unicast goes to its port, and a
 * destination on the source port is dropped as `same-port` by the view. A frame sees the table as
 * it stands after every frame of its batch was learned. VLANs: a MAC is learned and looked up on the
 * frame's VLAN (`view.vlan(i)`, 0 while the switch is VLAN-transparent), so the same MAC on two VLANs
 * is two entries; which ports receive a flood of a VLAN is the VLAN policy's egress business.
 */
import { defineForward, type ExtensionContext, type ForwardView, type SwitchMacTable } from '../api.js';

class LearningForwarder {
  readonly #fdb: SwitchMacTable;
  // MACs of the current batch (one batch read each instead of two reads per frame)
  readonly #hi: Int32Array;
  readonly #lo: Int32Array;
  readonly #port: Int32Array;
  readonly #vlan: Int32Array;

  constructor(fdb: SwitchMacTable, capacity: number) {
    this.#fdb = fdb;
    this.#hi = new Int32Array(capacity);
    this.#lo = new Int32Array(capacity);
    this.#port = new Int32Array(capacity);
    this.#vlan = new Int32Array(capacity);
  }

  ingress(view: ForwardView, ctx: ExtensionContext): void {
    const fdb = this.#fdb;
    const hi = this.#hi;
    const lo = this.#lo;
    const n = Math.min(view.count, hi.length);
    const inPort = view.inPort;
    const vlan = this.#vlan;
    for (let i = 0; i < n; i++) vlan[i] = view.vlan(i);
    if (inPort >= 0 && !ctx.tracing) {
      view.readMacs(6, hi, lo);
      let lastHi = -1;
      let lastLo = 0;
      let lastVlan = -1;
      for (let i = 0; i < n; i++) {
        if (view.dropped(i) || (hi[i] === lastHi && lo[i] === lastLo && vlan[i] === lastVlan)) continue;
        lastHi = hi[i];
        lastLo = lo[i];
        lastVlan = vlan[i];
        fdb.learn(lastHi, lastLo, inPort, lastVlan);
      }
    }
    view.readMacs(0, hi, lo);
    const port = this.#port;
    fdb.lookupBatch(hi, lo, n, port, vlan);
    for (let i = 0; i < n; i++) {
      if (view.dropped(i)) continue;
      // group bit of the first byte (broadcast/multicast) or unknown: flood
      if ((hi[i] & 0x100) !== 0 || port[i] < 0) view.flood(i);
      else view.setDestination(i, port[i]);
    }
  }
}

export default defineForward({
  name: 'learning',
  version: '2.0.0',
  kind: 'forward',
  doc: {
    synopsis: 'learning (no keys: aging and the limits are switch and port settings: --mac-aging, --mac-limit, --mac-port-limit, port set --mac-limit)',
    summary: 'MAC learning per VLAN with aging, table and per-port limits, and flooding: the default forwarding.',
    description: 'Learns the source MAC of every frame on its ingress port (new MAC, MAC move, or a refresh), then sends a frame '
      + 'to the port its destination MAC was learned on, in the frame\'s VLAN (the table is keyed by VLAN; a private VLAN\'s '
      + 'secondaries share their primary\'s entries); broadcast, multicast and unknown unicast flood to every port but the '
      + 'source. A frame whose destination was learned on its own source port is dropped (same-port). The table is shared by '
      + 'all workers of the switch and shown by `xvs fdb show`.',
    path: 'ingress: it chooses destinations. It is the switch\'s forwarder whenever no other forwarding extension is enabled: '
      + 'listed as enabled and running then, replaced when another forwarder is enabled, back when that one is disabled or fails.',
    notes: 'When the table is full (switch setting macTableLimit, default 8192) new MACs are not learned and the switch counter '
      + 'fdb.limitHits counts them; their frames are still forwarded (flooded as unknown unicast). Each port also has a MAC '
      + 'limit (default 1024 for VM and host ports, at most half the table; half the table for the uplink; `xvs port set SW '
      + 'PORT --mac-limit N`): a source MAC beyond it is not learned, its frame is still forwarded, and the port counter '
      + 'macLimitHits counts it, so one port flooding random MACs cannot fill the table for the others. Entries age out after '
      + 'macAgingSeconds (default 300) without traffic. Counters live in `xvs stats SWITCH` (fdb.*), not here. It cannot be '
      + 'disabled on its own: enable another forwarding extension to replace it.',
    seeAlso: 'static (a MAC table from configuration only); xvs fdb show; xvs stats',
  },
  config: {},
  counters: {},
  create(_config, ctx) {
    if (ctx.fdb === null) throw new Error('learning: the switch gave no MAC table (forwarding extensions get ctx.fdb)');
    return new LearningForwarder(ctx.fdb, ctx.maxBatch);
  },
});
