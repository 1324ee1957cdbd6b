/**
 * The provider network's neighbour table (owner: the "hnv-wire" part): next-hop IPv4 → MAC, resolved
 * by ARP on the uplink, shared by all workers of the switch (a SharedArrayBuffer in
 * PolicySharedBuffers), refreshed before it goes stale. Entries are slots the control-plane input
 * numbers (one per distinct next hop); the table never allocates per frame.
 */
export {};
