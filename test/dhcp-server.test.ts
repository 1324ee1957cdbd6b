/**
 * dhcp-server with a REAL client: busybox udhcpc in a network namespace gets its address through a
 * real xvs switch (DataPathManager on veths), its script applies it, and a neighbour with a fixed
 * address then pings it. Namespaces and the switch are removed in every outcome.
 */
import test from 'ava';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DataPathManager } from '../src/switch/manager.js';
import { NetLab, testPrefix } from '../src/lab/netlab.js';
import type { SwitchConfig } from '../src/config/types.js';

const P = testPrefix('dh');
const SW = `${P}sw`;
let lab: NetLab;
let mgr: DataPathManager;
let dir: string;
const logs: string[] = [];

const SCRIPT = `#!/bin/sh
# udhcpc event script: apply the lease and print it
case "$1" in
  deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/$mask" dev "$interface"
    [ -n "$router" ] && ip route replace default via "$router" dev "$interface"
    echo "LEASE ip=$ip mask=$mask router=$router dns=$dns lease=$lease serverid=$serverid" ;;
esac
exit 0
`;

test.before(() => {
  lab = new NetLab(P);
  mgr = new DataPathManager({ log: (m) => logs.push(m) });
  dir = mkdtempSync(path.join(tmpdir(), 'xvs-udhcpc-'));
  writeFileSync(path.join(dir, 'script'), SCRIPT);
  chmodSync(path.join(dir, 'script'), 0o755);
});

test.after.always(async () => {
  await mgr?.shutdown();
  lab?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test.serial('busybox udhcpc gets its address from dhcp-server through a real switch', async (t) => {
  const client = lab.addHost(0, { subnet: '10.78.0' });
  const neighbour = lab.addHost(1, { subnet: '10.78.0' }); // fixed 10.78.0.11
  lab.exec(client, ['ip', 'addr', 'flush', 'dev', client.dev]);
  const cfg: SwitchConfig = { name: SW, type: 'private', macAgingSeconds: 300, macTableLimit: 8192, workers: 1, ports: [] };
  await mgr.createSwitch(cfg);
  await mgr.addPort(SW, { name: 'vm0', netdev: client.peer });
  await mgr.addPort(SW, { name: 'vm1', netdev: neighbour.peer });
  await mgr.setExtension(SW, 'dhcp-server', {
    config: {
      pools: [{
        ports: ['vm0'], network: '10.78.0.0/24', rangeStart: '10.78.0.100', rangeEnd: '10.78.0.120', serverAddress: '10.78.0.1',
        router: '10.78.0.11', dns: ['10.78.0.53'], leaseSeconds: 900,
      }],
    },
  });
  await mgr.enableExtension(SW, 'dhcp-server');

  const out = lab.exec(client, ['busybox', 'udhcpc', '-i', client.dev, '-f', '-n', '-q', '-t', '5', '-T', '1', '-s', path.join(dir, 'script')], { timeout: 30_000 });
  t.log(out.trim());
  t.regex(out, /LEASE ip=10\.78\.0\.100 mask=24 router=10\.78\.0\.11 dns=10\.78\.0\.53 lease=900 serverid=10\.78\.0\.1/);
  const addr = lab.exec(client, ['ip', '-4', '-o', 'addr', 'show', 'dev', client.dev]);
  t.regex(addr, /inet 10\.78\.0\.100\/24/, 'the script applied the lease');
  t.true(lab.ping(neighbour, { ...client, ip: '10.78.0.100' }), 'the neighbour reaches the client at its leased address');

  // unicast renewals need the server's MAC: the client's kernel resolves serverAddress by ARP
  lab.exec(client, ['ping', '-c', '1', '-W', '1', '10.78.0.1'], { allowFail: true });
  t.regex(lab.exec(client, ['ip', 'neigh', 'show', '10.78.0.1']), /lladdr 02:78:76:4e:00:01/, 'ARP for serverAddress answered');

  const st = mgr.listExtensions(SW).find((e) => e.name === 'dhcp-server')!;
  t.true(st.enabled && st.running);
  t.log(JSON.stringify(st.counters));
  t.true(st.counters.discovers >= 1);
  t.true(st.counters.offers >= 1);
  t.true(st.counters.acks >= 1);
  t.is(st.counters.naks, 0);
  t.is(st.counters.malformed, 0);
  t.true(st.counters.arpReplies >= 1);

  // the neighbour's port is in no pool: its DHCP is not answered
  const none = lab.exec(neighbour, ['busybox', 'udhcpc', '-i', neighbour.dev, '-f', '-n', '-q', '-t', '2', '-T', '1', '-s', path.join(dir, 'script')],
    { timeout: 30_000, allowFail: true });
  t.notRegex(none, /LEASE/);
  await mgr.deleteSwitch(SW);
});
