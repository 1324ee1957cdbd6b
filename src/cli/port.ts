/** `xvs port add|remove|list|show`, and the settings commands of port-settings.ts (set, vlan, meter, feature). */
import type { PortAddParams, PortView } from '../control/protocol.js';
import type { PortIoKind } from '../config/types.js';
import { offloadNames } from '../ports/offloads.js';
import { vlanText } from '../config/desired.js';
import { PORT_QUEUES_RANGE } from '../config/types.js';
import { libvirtInterfaceXml, qemuNetArgs } from '../ports/guest-queues.js';
import { call, counts, intOption, keyValues, out, printJson, table, withJson, type Cli } from './common.js';
import { portSettingCommands, settingsLines } from './port-settings.js';
import { iovText } from './sriov.js';

/** how a VM attaches to a TAP port (null for a port on an existing netdev): QEMU's arguments on one shell-ready line, and libvirt's `<interface>` */
function vmAttach(v: PortView): { qemu: string; libvirt: string } | null {
  if (v.kind !== 'vm' || v.config === undefined || v.config.netdev !== undefined) return null;
  const queues = v.config.queues ?? 1;
  const mac = v.config.staticMacAddress !== undefined ? { mac: v.config.staticMacAddress } : {};
  return { qemu: qemuNetArgs(v.config.name, queues, mac).join(' '), libvirt: libvirtInterfaceXml(v.config.name, queues, mac) };
}

/** `afpacket`, or `pcap (libpcap; offloads turned off on veth3: tcp-segmentation-offload, …)` */
export function ioText(p: { io?: 'pcap'; offloadsOff?: string[]; netdev: string; config?: { io?: 'pcap' } }): string {
  if (p.io !== 'pcap' && p.config?.io !== 'pcap') return 'afpacket';
  const off = p.offloadsOff;
  if (off === undefined) return 'pcap (libpcap: no virtio-net header, so the netdev runs without offloads)';
  return `pcap (libpcap: no virtio-net header, so ${off.length > 0 ? `xvs turned off ${p.netdev}'s ${offloadNames(off).join(', ')}` : `${p.netdev} already had its offloads off`})`;
}

/** the line `port add` adds for a libpcap port */
function pcapNote(v: { io?: 'pcap'; offloadsOff?: string[]; netdev: string }): string {
  return v.io === 'pcap' ? `\n  io ${ioText(v)}; they are turned back on when the port goes` : '';
}

export function portCommands(y: Cli): Cli {
  return y.command('port', "add, remove, list and show ports; change a port's settings, VLAN, features; meter it", (py) =>
    portSettingCommands(py)
      .command(
        'add <switch> <name>',
        'add a VM port: a TAP named <name> (created, or an existing one adopted), or an existing netdev (--netdev)',
        (c) =>
          withJson(c)
            .positional('switch', { type: 'string', demandOption: true })
            .positional('name', { type: 'string', demandOption: true, describe: 'port name (and TAP name)' })
            .option('netdev', { type: 'string', describe: 'use this existing netdev (e.g. a veth end)' })
            .option('queues', {
              type: 'number',
              describe: `virtio-net queue pairs of the VM (${PORT_QUEUES_RANGE.min}..${PORT_QUEUES_RANGE.max}, default 1): above 1 the TAP is multi-queue; prints the QEMU arguments`,
            })
            .option('allow-host-addresses', {
              type: 'boolean', default: false,
              describe: 'accept a netdev (or existing TAP) that carries host IP addresses: they are removed while it is a port and put back after',
            })
            .option('io', {
              type: 'string', choices: ['afpacket', 'pcap'],
              describe: 'how the switch reads and writes the netdev: afpacket (default; offloads end to end) or pcap (libpcap; the netdev\'s offloads are turned off while it is a port)',
            })
            .option('may-exist', { type: 'boolean', default: false, describe: 'no error if the port exists with this netdev' })
            .option('iov-weight', {
              type: 'number',
              describe: "0..100 (Hyper-V's IovWeight): > 0 asks for an SR-IOV VF of the switch's uplink, passed through with vfio-pci; the TAP is its failover standby (a software port when there is no free VF)",
            }),
        async (a) => {
          const params: PortAddParams = { switch: a.switch, name: a.name };
          if (a.netdev !== undefined) params.netdev = a.netdev;
          const queues = intOption('queues', a.queues);
          if (queues !== undefined) params.queues = queues;
          if (a.allowHostAddresses) params.allowHostAddresses = true;
          if (a.io !== undefined) params.io = a.io as PortIoKind;
          if (a.mayExist) params.mayExist = true;
          const iovWeight = intOption('iov-weight', a.iovWeight);
          if (iovWeight !== undefined) params.iovWeight = iovWeight;
          const v = await call(a, 'port.add', params);
          if (a.json) printJson(v);
          else if (v.unchanged) out(`port "${v.name}" (${v.netdev}) already on switch "${v.switch}" (unchanged)`);
          else out(`added port "${v.name}" (${v.netdev}) to switch "${v.switch}"${pcapNote(v)}`);
          if (!a.json && v.iov) out(iovText(v.iov));
          // an iovWeight port printed its own QEMU arguments (the VF and its virtio standby)
          const attach = a.json || v.iov ? null : vmAttach(v);
          if (attach !== null) {
            const n = v.config?.queues ?? 1;
            out(`QEMU: ${attach.qemu}`);
            out(`libvirt (in the domain's <devices>):\n${attach.libvirt.replace(/^/gm, '  ')}`);
            if (n > 1) out(`in the guest: ethtool -L eth0 combined ${n} (best with ${n} vCPUs: -smp ${n})`);
          }
        },
      )
      .command(
        'remove <switch> <name>',
        'remove a port (refused while a VM still holds its TAP, unless --force)',
        (c) =>
          withJson(c)
            .positional('switch', { type: 'string', demandOption: true })
            .positional('name', { type: 'string', demandOption: true })
            .option('if-exists', { type: 'boolean', default: false, describe: 'no error if there is no such port' })
            .option('force', { type: 'boolean', default: false, describe: 'remove even if a process (QEMU) holds the TAP; it lasts until that process closes it' }),
        async (a) => {
          const r = await call(a, 'port.remove', {
            switch: a.switch, name: a.name, ...(a.ifExists ? { ifExists: true } : {}), ...(a.force ? { force: true } : {}),
          });
          if (a.json) printJson(r);
          else out(r.unchanged ? `no port "${r.name}" on switch "${r.switch}" (unchanged)` : `removed port "${r.name}" from switch "${r.switch}"`
            + `${r.iovReleased ? `; VF ${r.iovReleased} given back to its driver` : ''}`);
        },
      )
      .command(
        'list <switch>',
        "list a switch's ports",
        (c) => withJson(c).positional('switch', { type: 'string', demandOption: true }),
        async (a) => {
          const list = await call(a, 'port.list', { switch: a.switch });
          if (a.json) return printJson(list);
          out(
            table(
              ['NAME', 'KIND', 'NETDEV', 'INDEX', 'UP', 'STATE', 'VLAN', 'ACLS'],
              list.map((p) => [p.name, p.kind, p.netdev, p.index, p.up, p.running ? 'running' : 'down',
                p.config ? vlanText(p.config.vlan).replace(' (default)', '') : null,
                p.config ? (p.config.acls?.length ?? 0) + (p.config.extendedAcls?.length ?? 0) : null]),
            ),
          );
        },
      )
      .command(
        'show <switch> <name>',
        'show a port and its counters',
        (c) =>
          withJson(c)
            .positional('switch', { type: 'string', demandOption: true })
            .positional('name', { type: 'string', demandOption: true }),
        async (a) => {
          const p = await call(a, 'port.show', { switch: a.switch, name: a.name });
          if (a.json) return printJson(p);
          const s = p.stats;
          const attach = vmAttach(p);
          out(
            keyValues([
              ['switch', p.switch],
              ['name', p.name],
              ['kind', p.kind],
              ['netdev', p.netdev],
              ['index', p.index],
              ['up', p.up],
              ['mtu', p.mtu ?? null],
              ['queues', p.kind === 'vm' && p.config?.netdev === undefined ? p.config?.queues ?? 1 : null],
              ['qemu', attach?.qemu ?? null],
              ['libvirt', attach?.libvirt.replace(/\n\s*/g, '') ?? null],
              ['io', ioText(p)],
              ['state', p.running ? 'running' : 'down (see "xvs daemon status")'],
              ['rx', s ? `${s.rxPackets} packets, ${s.rxBytes} bytes` : null],
              ['tx', s ? `${s.txPackets} packets, ${s.txBytes} bytes` : null],
              ['tx-errors', s ? s.txErrors : null],
              ...(s?.rxZeroCopy ? [['rx-zero-copy', `${s.rxZeroCopy} frames forwarded from the rx ring, ${s.rxZeroCopyWhole ?? 0} made whole`] as [string, string]] : []),
              ...(p.kind === 'external' && s ? [['tx-tunnel-gso', `${s.txTunnelGso} VXLAN GSO frames sent whole (tunnel TAP)`] as [string, string]] : []),
              ['drops', s ? counts(s.drops) : null],
              ['macs', s ? `${s.macs} learned, limit ${s.macLimit}, ${s.macLimitHits} not learned (limit hits)` : null],
              ...settingsLines(p.config),
              ...(p.iov ? [['sr-iov', p.iov.state === 'vf' ? `VF ${p.iov.vf} of ${p.iov.pf} (${p.iov.address}) on vfio-pci, MAC ${p.iov.mac}` : `software port: ${p.iov.reason}`] as [string, string]] : []),
            ]),
          );
        },
      )
      .demandCommand(1, 'name a port command: add, remove, set, vlan, meter, feature, list, show'),
  );
}
