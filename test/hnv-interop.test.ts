/**
 * Kernel VXLAN interop (issue 11 item 6): a third-party VTEP (a namespace on the underlay running the
 * Linux `vxlan` device, dstport 4789, nolearning, no xvs) and a VM behind xvs share VSID/VNI 5001.
 * xvs knows the VTEP's address from a lookup record (CA 10.1.0.50, its MAC, PA 192.0.2.101, vxlan);
 * the kernel device knows the VM from static fdb (MAC → host 1's PA) and neighbour entries, as a
 * controller would program it. They ping each other and pass TCP both ways (socat, byte-exact, offloads on);
 * tshark on the underlay sees VNI 5001 both ways and xvs's frames on UDP 4789.
 */
import test from 'ava';
import { testPrefix } from '../src/lab/netlab.js';
import { HnvTopology, tcpTransfer, type HnvHost, type HnvVm, type KernelVtep } from '../src/test-support/hnv-hosts.js';

const P = testPrefix('hi');
let topo: HnvTopology;
let h1: HnvHost;
let vm: HnvVm;
let vtep: KernelVtep;
const VTEP_CA = '10.1.0.50';
const VTEP_MAC = '02:00:00:01:00:50';

test.before(async () => {
  topo = new HnvTopology(P);
  h1 = await topo.addHost(1);
  await h1.addPa();
  vm = await h1.addVm({ name: 'a1', ca: '10.1.0.11', mac: '02:00:00:01:00:11', vsid: 5001, gateway: '10.1.0.1' });
  vtep = topo.addVtep(1, {
    vni: 5001, ca: VTEP_CA, mac: VTEP_MAC, floodTo: [h1.pa],
    fdb: [{ mac: vm.mac, pa: h1.pa }], neighbors: [{ ip: vm.ca, mac: vm.mac }],
  });
  await topo.addRecord(vm, 'vxlan');
  await h1.cliAsync('hnv', 'record', 'add', '--ca', VTEP_CA, '--vsid', '5001', '--mac', VTEP_MAC, '--pa', vtep.ip, '--encap', 'vxlan');
  await topo.addRoute('t', 5001, '10.1.0.0/24');
});

test.after.always(async () => {
  await topo?.destroy();
});

test.serial('a VM behind xvs and an address behind the kernel vxlan device ping each other; VNI 5001 both ways on the wire', async (t) => {
  const cap = await topo.captureUnderlay('udp port 4789');
  const there = vm.ping(VTEP_CA, { count: 3 });
  const back = vtep.ping(vm.ca, { count: 3 });
  await cap.stop();
  t.true(there.ok, `VM → kernel VTEP: ${there.out}\nhost log: ${h1.log.slice(-1500)}`);
  t.true(back.ok, `kernel VTEP → VM: ${back.out}`);
  const frames = cap.fields('icmp', ['ip.src', 'ip.dst', 'vxlan.vni', 'udp.dstport']);
  const fromXvs = frames.filter(([src]) => src.startsWith(`${h1.pa},`));
  const fromKernel = frames.filter(([src]) => src.startsWith(`${vtep.ip},`));
  t.is(fromXvs.length, 6, 'three requests and three replies from xvs');
  t.is(fromKernel.length, 6, 'three requests and three replies from the kernel device');
  for (const f of [...fromXvs, ...fromKernel]) t.deepEqual(f.slice(2), ['5001', '4789']);
});

test.serial('TCP both ways between the VM and the kernel VTEP (socat, 4 MB each, byte-exact)', async (t) => {
  const MB4 = 4 * 1024 * 1024;
  const up = await tcpTransfer(vtep, vm, VTEP_CA, MB4);
  t.true(up.intact, `VM → kernel VTEP: received ${up.received} of ${MB4} ${up.error}`);
  const down = await tcpTransfer(vm, vtep, vm.ca, MB4);
  t.true(down.intact, `kernel VTEP → VM: received ${down.received} of ${MB4} ${down.error}`);
});
