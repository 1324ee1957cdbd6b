/**
 * forward `learning`: the switch's built-in learning forwarder, listed as an extension so it can be
 * named, described and explicitly enabled. It runs inside the data path itself (forward/learning.ts,
 * with the switch's shared MAC table), whether it is enabled or simply no other forwarding extension
 * is.
 */
import { defineForward } from '../api.js';

export default defineForward({
  name: 'learning',
  version: '1.0.0',
  kind: 'forward',
  doc: {
    synopsis: 'learning (no keys: aging and the table limit are switch settings: --mac-aging, --mac-limit)',
    summary: 'MAC learning with aging, a table limit and flooding: the default forwarding.',
    description: 'Learns the source MAC of every frame on its ingress port (new MAC, MAC move, or a refresh), then sends a frame '
      + 'to the port its destination MAC was learned on; broadcast, multicast and unknown unicast flood to every port but the '
      + 'source. A frame whose destination was learned on its own source port is dropped (same-port). The table is shared by '
      + 'all workers of the switch and shown by `xvs fdb show`.',
    path: 'ingress: it chooses destinations. It is the forwarding stage whenever no other forwarding extension is enabled.',
    notes: 'When the table is full (switch setting macTableLimit, default 8192) new MACs are not learned and the switch counter '
      + 'fdb.limitHits counts them; their frames are still forwarded (flooded as unknown unicast). Entries age out after '
      + 'macAgingSeconds (default 300) without traffic. Counters live in `xvs stats SWITCH` (fdb.*), not here.',
    seeAlso: 'static (a MAC table from configuration only); xvs fdb show; xvs stats',
  },
  config: {},
  counters: {},
  create() {
    throw new Error('the learning forwarder is built into the data path and is not instantiated as a module');
  },
});
