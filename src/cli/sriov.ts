/**
 * `xvs sriov list` and `xvs sriov enable PF --vfs N`: SR-IOV physical functions and their VFs as sysfs shows
 * them (read and written by the daemon, which runs as root), and `iovWeight` port results (port add). The
 * CLI only maps options to a request; the daemon validates and names the field.
 */
import type { IovStatus, SriovPfView } from '../control/protocol.js';
import { call, intOption, out, printJson, table, withJson, type Cli } from './common.js';

export function pfText(list: SriovPfView[]): string {
  if (list.length === 0) return 'no SR-IOV physical functions (no /sys/class/net/*/device/sriov_totalvfs): iovWeight ports are software ports';
  const parts: string[] = [];
  parts.push(table(['PF', 'PCI', 'DRIVER', 'IOMMU', 'VFS', 'SWITCH'],
    list.map((p) => [p.netdev, p.address, p.driver, p.iommuGroup, `${p.numVfs}/${p.totalVfs}`, p.switch])));
  const vfs = list.flatMap((p) => p.vfs.map((v) => [p.netdev, v.index, v.address, v.driver, v.driverOverride, v.iommuGroup, v.netdev ? `${v.netdev}${v.netdevUp ? ' (up)' : ''}` : null, v.assignedTo]));
  if (vfs.length > 0) parts.push('', table(['PF', 'VF', 'PCI', 'DRIVER', 'OVERRIDE', 'IOMMU', 'NETDEV', 'PORT'], vfs));
  return parts.join('\n');
}

/** what an iovWeight port got, for `port add` */
export function iovText(iov: IovStatus): string {
  const qemu = `QEMU arguments:\n  ${iov.qemu.join(' ')}`;
  if (iov.state === 'vf') {
    return [
      `SR-IOV: VF ${iov.vf} of ${iov.pf} (${iov.address}, IOMMU group ${iov.iommuGroup}) is bound to vfio-pci`,
      `VF policy: mac ${iov.policy.mac}, vlan ${iov.policy.vlan}, spoofchk ${iov.policy.spoofchk ? 'on' : 'off'}, trust ${iov.policy.trust ? 'on' : 'off'}, max_tx_rate ${iov.policy.maxTxRate} Mbit/s`,
      'the TAP is the virtio standby with the same MAC (net_failover: failover=on / failover_pair_id)',
      qemu,
    ].join('\n');
  }
  return [`SR-IOV not available: ${iov.reason}`, 'the port falls back to a software port (its TAP)', qemu].join('\n');
}

export function sriovCommands(y: Cli): Cli {
  return y.command('sriov', 'SR-IOV: list physical and virtual functions, set the number of VFs', (sy) =>
    sy
      .command(
        'list',
        'SR-IOV physical functions (PFs) and their VFs: PCI address, driver, IOMMU group, the port holding each',
        (c) => withJson(c),
        async (a) => {
          const list = await call(a, 'sriov.list', {});
          if (a.json) printJson(list);
          else out(pfText(list));
        },
      )
      .command(
        'enable <pf>',
        'set how many VFs a PF has (written to sriov_numvfs, through 0 when the count changes; 0 disables)',
        (c) =>
          withJson(c)
            .positional('pf', { type: 'string', demandOption: true, describe: 'the PF netdev (see "xvs sriov list")' })
            .option('vfs', { type: 'number', demandOption: true, describe: 'number of VFs (0..sriov_totalvfs)' }),
        async (a) => {
          const r = await call(a, 'sriov.enable', { pf: a.pf, vfs: intOption('vfs', a.vfs) ?? a.vfs });
          if (a.json) printJson(r);
          else out(r.written.length === 0 ? `${r.pf} has ${r.numVfs} VFs (unchanged)` : `${r.pf} has ${r.numVfs} VFs (sriov_numvfs ← ${r.written.join(', then ')})`);
        },
      )
      .demandCommand(1, 'name an sriov command: list, enable'),
  );
}
