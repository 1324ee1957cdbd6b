/**
 * The parameters and results of every control method, in words, for the generated method reference in
 * docs/CONTROL.md (src/control/gen-docs.ts). Summaries and whether a method changes the configuration come
 * from METHODS in protocol.ts; ranges come from the validators' own constants. gen-docs.test.ts checks that
 * every method has an entry here and that the params named here are exactly the ones its parser accepts.
 *
 * Params: backticked names, `?` marks an optional one.
 */
import type { MethodName } from './protocol.js';

export interface MethodDoc {
  params: string;
  result: string;
}

export const METHOD_DOCS: Partial<Record<MethodName, MethodDoc>> = {
  'switch.create': {
    params: '`name`, `type` (`private`/`internal`/`external`), `uplink?`, `uplinkIo?` (external: afpacket, the default, or pcap: the uplink through libpcap, its offloads turned off), `allowManagementOs?`, `hostPort?`, `macAgingSeconds?`, `macTableLimit?`, `macPortLimit?`, `uplinkBandwidth?` (external: bits/s the bandwidth weights divide), `workers?`, `cpus?` (CPU numbers the workers are pinned to, worker i → cpus[i mod n]), `extensions?`, `mayExist?`',
    result: '`SwitchView` (+ `unchanged: true` when it existed)',
  },
  'switch.delete': { params: '`name`, `ifExists?`', result: '`{name, unchanged?}`' },
  'switch.list': { params: '—', result: '`SwitchView[]`' },
  'switch.show': { params: '`name`', result: '`SwitchView`' },
  'switch.set': { params: '`name`, `cpus` (CPU numbers such as [0, 1]: worker i is pinned to cpus[i mod n]; null or []: none)', result: '`SwitchView` (+ `unchanged?`)' },
  'vmq.show': { params: '`switch`', result: '`{switch, cpus, cpusFrom, intervalMs, workers: {index, tid, cpu, busy, queues}[], queues: {id, weight, pin?, worker, cpu, ports, pps, busy}[], uplink?: {port, steered, reason?, workers: {worker, accepts (all, none, only, all-except), macs (MAC or MAC@VLAN), rxPackets}[]}}` (uplink: an external switch; which destination MACs each worker\'s uplink socket accepts)' },
  'vmq.rebalance': { params: '`switch`', result: '`{switch, moves: {queue, from, to, ports}[], view}` (view: as `vmq.show`)' },
  'port.add': { params: '`switch`, `name`, `netdev?`, `allowHostAddresses?` (a netdev with host addresses: consent), `queues?` (1..16 virtio-net queue pairs: a multi-queue TAP above 1), `macLimit?`, `mayExist?`, `io?` (afpacket, the default, or pcap: libpcap, the netdev\'s offloads turned off), `iovWeight?` (0..100, Hyper-V IovWeight: > 0 asks for an SR-IOV VF; not with `netdev`)', result: '`PortView` (+ `unchanged?`; an iovWeight port: `iov` = `{state: "vf", pf, vf, address, iommuGroup, mac, policy, qemu, message}` or `{state: "software", reason, mac, qemu, message}`; a libpcap port: io pcap and offloadsOff)' },
  'port.set': {
    params: '`switch`, `name`, `macLimit?`, `macAddressSpoofing?`, `dhcpGuard?`, `routerGuard?` (true/false), `stormLimit?` (frames/s), `maximumBandwidth?` (bits/s, rounded to a multiple of 8), `maximumBandwidthBurst?` (bytes), `minimumBandwidthWeight?`, `portMirroring?` (`none`/`source`/`destination`), `staticMacAddress?`, `vlan?` (`{mode, accessVlanId | allowedVlanIds, nativeVlanId | primaryVlanId, secondaryVlanId | secondaryVlanIds}`), `acls?`, `extendedAcls?` (whole lists), `features?`, `virtualSubnetId?` (HNV VSID 4096..16777214: the netdev gets the overlay MTU), `vmqWeight?` (0..100: 1..100 a VMQ queue of its own), `vmqPin?` (`{worker}` or `{cpu}`: the worker that reads the port queue); at least one setting, each a value or null for its default',
    result: '`PortView` (+ `unchanged?`)',
  },
  'port.meter': { params: '`switch`, `name`, `reset?` (report, then count from zero)', result: '`MeterReport`: `{switch, port, since, entries: {index, direction, localAddress?, remoteAddress?, inboundBytes, inboundPackets, outboundBytes, outboundPackets}[], totals, reset?}`' },
  'port.feature.set': { params: '`switch`, `name`, `extension`, `settings` (`{key: "value"}`, merged into what the port has)', result: '`{switch, name, features, unchanged?}`' },
  'port.feature.remove': { params: '`switch`, `name`, `extension`, `keys?` (only these keys; absent: all of the extension\'s)', result: '`{switch, name, features}`' },
  'acl.add': { params: '`switch`, `name`, `action` (`allow`/`deny`/`meter`), `direction` (`inbound`/`outbound`/`both`), `localIPAddress?`, `remoteIPAddress?`, `localMacAddress?`, `remoteMacAddress?` (exactly one address)', result: '`{switch, name, acls, unchanged?}`' },
  'acl.remove': { params: '`switch`, `name`, `action`, `direction`, `localIPAddress?`, `remoteIPAddress?`, `localMacAddress?`, `remoteMacAddress?` (the entry\'s one address)', result: '`{switch, name, acls}`' },
  'acl.list': { params: '`switch`, `name`', result: '`PortAcl[]`' },
  'acl.extended.add': { params: '`switch`, `name`, `action` (`allow`/`deny`), `direction` (`inbound`/`outbound`), `weight`, `protocol?`, `localIPAddress?`, `remoteIPAddress?`, `localPort?`, `remotePort?` (tcp/udp only), `stateful?` (allow only), `idleSessionTimeout?` (seconds, stateful only)', result: '`{switch, name, extendedAcls, unchanged?}`' },
  'acl.extended.remove': { params: '`switch`, `name`, `weight`, `direction`', result: '`{switch, name, extendedAcls}`' },
  'acl.extended.list': { params: '`switch`, `name`', result: '`ExtendedAcl[]`, larger weight first' },
  'port.remove': { params: '`switch`, `name`, `ifExists?`, `force?`', result: '`{switch, name, unchanged?, iovReleased?}` (iovReleased: the PCI address of the VF given back)' },
  'sriov.list': { params: '—', result: '`SriovPfView[]`: `{netdev, address, driver, iommuGroup, totalVfs, numVfs, switch, vfs: {index, address, driver, driverOverride, iommuGroup, netdev, netdevUp, assignedTo}[]}`' },
  'sriov.enable': { params: '`pf` (a PF netdev), `vfs` (0..sriov_totalvfs; 0 disables)', result: '`{pf, numVfs, written}` (written: the values written to sriov_numvfs, e.g. `["0", "4"]`)' },
  'port.list': { params: '`switch`', result: '`PortView[]` (a VM port\'s `config`: its document entry with every setting)' },
  'port.show': { params: '`switch`, `name`', result: '`PortView` + `stats` (`config` applies back unchanged through `config.apply`)' },
  'fdb.show': { params: '`switch`, `after?` (the previous page\'s `next`), `limit?`', result: '`{entries: {mac, port, ageSeconds}[], next, total}`' },
  stats: { params: '`switch`', result: '`SwitchStats`' },
  'daemon.status': { params: '—', result: '`{pid, version, socket, configPath, startedAt, uptimeSeconds, switches, ports, problems, workers}`' },
  'extension.installed': { params: '—', result: '`ExtensionInfo[]` (`{name, version, kind, summary, source}`)' },
  'extension.describe': { params: '`name`', result: '`{info: ExtensionInfo, markdown}`' },
  'extension.list': { params: '`switch`', result: '`SwitchExtensionState[]` in pipeline order (enabled, running, config, onError, counters, failure)' },
  'extension.enable': { params: '`switch`, `name`', result: '`SwitchExtensionState`' },
  'extension.disable': { params: '`switch`, `name`', result: '`SwitchExtensionState`' },
  'extension.order': { params: '`switch`, `names` (non-empty list)', result: '`SwitchExtensionState[]`' },
  'extension.set': { params: '`switch`, `name`, `config?`, `onError?` (`bypass`/`drop`); at least one of the last two', result: '`SwitchExtensionState`' },
  'extension.install': { params: '`source` (a directory or npm package name), `allowUntrusted?` (accept files not root-only-writable; recorded)', result: '`ExtensionInfo`' },
  'extension.uninstall': { params: '`name`', result: '`{name}`' },
  'pipeline.show': { params: '`switch`', result: '`PipelineView` (every stage, ingress and egress, with its extensions)' },
  trace: {
    params: '`switch`, `in?` (required without `live`), `frame?` (hex) or `packet?` (`eth(...),ipv4(...),...`), `live?`, `count?`, `match?`, `timeoutMs?`',
    result: '`TraceView[]`: steps, `verdict`, `reason`, `destinations`, `summary` (the stage and reason that decided)',
  },
  'trace.start': { params: '`switch`, `in?`, `count?`, `match?`, `timeoutMs?`', result: '`{session}`' },
  'trace.poll': { params: '`session`, `from?` (frames already read)', result: '`{frames: TraceView[], next, done, timedOut}`' },
  'trace.stop': { params: '`session`', result: '`{session}`' },
  'config.show': { params: '—', result: 'the document (`XvsConfig`)' },
  'config.apply': { params: '`config` (the whole document), `dryRun?`', result: '`{dryRun, changes: string[], text}`' },
  'hnv.pa.add': {
    params: '`switch` (an external switch), `address` (IPv4), `prefixLength` (1..32), `vlanId?` (1..4094: the outer 802.1Q tag), `gateway?` (in the PA\'s subnet), `host?` (etcd: the daemon owning it; default this one)',
    result: '`{object, key, replaced}` (replaced: an object with the same key was there)',
  },
  'hnv.pa.remove': { params: '`switch`, `address`, `host?`, `ifExists?`', result: '`{key, removed}`' },
  'hnv.pa.list': { params: '—', result: '`HnvProviderAddress[]`, each with `local`' },
  'hnv.record.add': {
    params: '`ca` (IPv4 or IPv6; 0.0.0.0 or :: for l2only), `vsid` (4096..16777214), `mac` (unicast), `pa` (IPv4), `encap` (`nvgre`/`vxlan`), `type?` (`static`/`l2only`)',
    result: '`{object, key, replaced}` (replaced: the record moved)',
  },
  'hnv.record.remove': { params: '`vsid`, `ca?` or `mac?` (exactly one), `ifExists?`', result: '`{key, removed}`' },
  'hnv.record.list': { params: '—', result: '`HnvLookupRecord[]`, each with `location` (`local`/`remote`), `paHost?`, `paSwitch?`' },
  'hnv.route.add': {
    params: '`routingDomain`, `vsid`, `prefix` (no host bits), `nextHop` (0.0.0.0 or :: on-link, else a CA), `metric?` (0..4294967295)',
    result: '`{object, key, replaced}`',
  },
  'hnv.route.remove': { params: '`routingDomain`, `vsid`, `prefix`, `ifExists?`', result: '`{key, removed}`' },
  'hnv.route.list': { params: '—', result: '`HnvCustomerRoute[]`' },
  'hnv.show': {
    params: '—',
    result: '`{source: {source, connected, lastSync?, lastError?, endpoints?, prefix?}, host, providerAddresses, lookupRecords, customerRoutes, vsids: {vsid, routingDomain, records, ports, mtu, counters}[], nextHops}`',
  },
};

/** the parameter names a params doc string names, with whether each is optional */
export function documentedParams(doc: string): { name: string; optional: boolean }[] {
  const out: { name: string; optional: boolean }[] = [];
  // a param is a backticked identifier at the start or after ", " or " or " (values such as `private` follow "(")
  for (const m of doc.matchAll(/(?:^|, | or )`([A-Za-z]+)(\??)`/g)) out.push({ name: m[1], optional: m[2] === '?' });
  return out;
}
