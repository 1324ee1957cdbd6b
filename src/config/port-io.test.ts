/** A port's I/O backend (`io`, `uplinkIo`: afpacket | pcap) in the configuration: shape, errors by field, diff. */
import test from 'ava';
import { validatePort, validateSwitch } from './schema.js';
import { describe, diff } from './desired.js';
import { ConfigError } from '../core/errors.js';
import type { SwitchConfig, XvsConfig } from './types.js';

const sw = (extra: Partial<SwitchConfig> = {}): SwitchConfig => ({
  name: 'sw0', type: 'private', macAgingSeconds: 300, macTableLimit: 8192, workers: 1, ports: [], ...extra,
});
const doc = (s: SwitchConfig): XvsConfig => ({ version: 1, switches: [s] });

test('io pcap is kept, afpacket (the default) reads back as absent, anything else is refused by field', (t) => {
  t.deepEqual(validatePort({ name: 'vm1', netdev: 'veth1', io: 'pcap' }, 'p'), { name: 'vm1', netdev: 'veth1', io: 'pcap' });
  t.deepEqual(validatePort({ name: 'vm1', io: 'afpacket' }, 'p'), { name: 'vm1' });
  const e = t.throws(() => validatePort({ name: 'vm1', io: 'dpdk' }, 'switches[0].ports[2]'), { instanceOf: ConfigError });
  t.is(e?.message, 'switches[0].ports[2].io: expected one of afpacket, pcap, got "dpdk"');
});

test('uplinkIo only on an external switch; pcap kept, afpacket absent', (t) => {
  const ext = { name: 'ext0', type: 'external', uplink: 'eth1' };
  t.is(validateSwitch({ ...ext, uplinkIo: 'pcap' }, 's').uplinkIo, 'pcap');
  t.false('uplinkIo' in validateSwitch({ ...ext, uplinkIo: 'afpacket' }, 's'));
  t.throws(() => validateSwitch({ name: 'p0', type: 'private', uplinkIo: 'pcap' }, 'switches[1]'),
    { message: 'switches[1].uplinkIo: only an external switch has an uplink (this one is private)' });
});

test('changing a port\'s io replaces the port; changing uplinkIo recreates the switch', (t) => {
  const a = doc(sw({ ports: [{ name: 'vm1', netdev: 'veth1' }] }));
  const b = doc(sw({ ports: [{ name: 'vm1', netdev: 'veth1', io: 'pcap' }] }));
  const ch = diff(a, b);
  t.deepEqual(ch.map((c) => c.kind), ['removePort', 'addPort']);
  t.regex(describe(ch), /vm1 \(netdev veth1, libpcap\)/);
  const e1 = doc(sw({ type: 'external', uplink: 'eth1', allowManagementOs: false }));
  const e2 = doc(sw({ type: 'external', uplink: 'eth1', allowManagementOs: false, uplinkIo: 'pcap' }));
  const ch2 = diff(e1, e2);
  t.deepEqual(ch2.map((c) => c.kind), ['deleteSwitch', 'createSwitch']);
  t.regex(describe(ch2), /uplinkIo \(none\) → "pcap"/);
});
