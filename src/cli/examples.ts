/**
 * Examples for every command's help (`xvs help port add`, `xvs port add --help`) and the man page, as
 * data: command path → [command line, what it does]. Commands that keep examples beside their options
 * (`port set`, `acl add`, `trace`, …) are not repeated here; a test checks that every command's help
 * has an "Examples:" section and that every path below is a command.
 */
import type { Argv } from 'yargs';

type Example = readonly [command: string, description: string];

export const EXAMPLES: Readonly<Record<string, readonly Example[]>> = {
  'daemon': [
    ['$0 daemon', 'run in the foreground with /var/lib/xvs/config.json and /run/xvs/xvs.sock'],
    ['$0 daemon --config /tmp/lab/config.json --socket /tmp/lab/xvs.sock --log-level debug', 'a second daemon of its own'],
  ],
  'daemon status': [['$0 daemon status', 'pid, uptime, and what the last start could not restore']],
  'switch create': [
    ['$0 switch create sw0 --type private', 'VMs reach each other, never the host'],
    ['$0 switch create int0 --type internal --host-port int0-host', 'VMs and the host (give int0-host an address)'],
    ['$0 switch create ext0 --type external --uplink eth1 --allow-management-os', 'on a NIC; its addresses move to the host port'],
    ['$0 switch create sw1 --type private --workers 2', 'two data-path worker threads'],
  ],
  'switch delete': [['$0 switch delete sw0', 'its ports go too (TAPs xvs created are removed)'], ['$0 switch delete sw0 --if-exists', 'no error if there is none']],
  'switch list': [['$0 switch list', ''], ['$0 switch list --json', 'everything, as JSON']],
  'switch show': [['$0 switch show sw0', 'settings and ports']],
  'switch set': [['$0 switch set sw0 --cpus 0,1', 'pin worker 0 to CPU 0 and worker 1 to CPU 1'], ['$0 switch set sw0 --cpus none', 'unpin them']],
  'port add': [
    ['$0 port add sw0 vm1', 'a TAP "vm1"; prints the QEMU arguments and the libvirt <interface type=\'ethernet\'> for it'],
    ['$0 port add sw0 vm2 --queues 2', 'a multi-queue TAP (QEMU queues=2, mq=on)'],
    ['$0 port add sw0 ns1 --netdev veth-ns1', 'an existing netdev (a veth into a namespace)'],
  ],
  'port remove': [['$0 port remove sw0 vm1', 'refused while a VM holds the TAP'], ['$0 port remove sw0 vm1 --force', 'even then']],
  'port list': [['$0 port list sw0', '']],
  'port show': [['$0 port show sw0 vm1', 'settings, counters and drops by reason']],
  'port feature remove': [['$0 port feature remove sw0 vm1 port-guard', "all of the extension's settings for vm1"], ['$0 port feature remove sw0 vm1 port-guard blocked', 'one key']],
  'acl remove': [['$0 acl remove sw0 vm1 --action deny --direction both --remote-ip-address 10.0.0.0/8', 'the entry with this action, direction and address']],
  'acl list': [['$0 acl list sw0 vm1', '']],
  'acl extended remove': [['$0 acl extended remove sw0 vm1 --direction inbound --weight 10', 'the entry with this direction and weight']],
  'acl extended list': [['$0 acl extended list sw0 vm1', 'in the order they are judged (highest weight first)']],
  'fdb show': [['$0 fdb show sw0', 'MAC, port, VLAN, age'], ['$0 fdb show sw0 --json --page-size 1000', 'in pages of 1000 entries']],
  'stats': [['$0 stats sw0', 'ports, drops by reason, MAC table, workers'], ['$0 stats sw0 --json', '']],
  'extension list': [['$0 extension list', 'the extensions xvs knows'], ['$0 extension list sw0', "sw0's, in pipeline order, with their state"]],
  'extension enable': [['$0 extension enable sw0 firewall', 'it goes nearest the protocol edge of its kind']],
  'extension disable': [['$0 extension disable sw0 firewall', 'its configuration stays']],
  'extension order': [['$0 extension order sw0 pcap firewall', 'pcap first, then firewall, then the others as they were']],
  'extension set': [
    ['$0 extension set sw0 pcap snaplen=128', 'key=value pairs'],
    ['$0 extension set sw0 pcap --config "$(cat pcap.json)"', 'the whole configuration, a JSON object (replaces it)'],
    ['$0 extension set sw0 firewall --on-error drop', 'drop the batch when the extension throws, instead of passing it on'],
  ],
  'extension describe': [['$0 extension describe firewall', 'what it does, its settings and counters']],
  'extension install': [['$0 extension install ./examples/port-guard', 'a folder with its manifest (xvs-extension.json), owned by root']],
  'extension uninstall': [['$0 extension uninstall port-guard', '']],
  'pipeline show': [['$0 pipeline show sw0', 'stages, extensions and policies in the order a frame meets them']],
  'config show': [['$0 config show > desired.json', 'the running desired state, as a document']],
  'config apply': [['$0 config apply desired.json --dry-run', 'print the difference'], ['$0 config apply desired.json', 'apply only the difference']],
  'hnv pa remove': [['$0 hnv pa remove ext0 --address 192.0.2.10', '']],
  'hnv pa list': [['$0 hnv pa list', 'local and, with --etcd, every host\'s']],
  'hnv record remove': [['$0 hnv record remove --vsid 5001 --ca 10.0.0.5', '']],
  'hnv record list': [['$0 hnv record list --json', '']],
  'hnv route remove': [['$0 hnv route remove --routing-domain rd1 --vsid 5001 --prefix 10.0.0.0/24', '']],
  'hnv route list': [['$0 hnv route list', '']],
  'hnv show': [['$0 hnv show', 'source (local or etcd), PAs, records, routes, next hops, per-VSID counters']],
  'sriov list': [['$0 sriov list', 'PFs, VFs, drivers, IOMMU groups, the ports holding VFs']],
  'sriov enable': [['$0 sriov enable eth1 --vfs 4', 'through 0 first when the count changes, as the kernel requires']],
  'vmq show': [['$0 vmq show sw0', 'queues, workers, CPUs, pps, busy %']],
  'vmq rebalance': [['$0 vmq rebalance sw0', 'place the queues again by measured load']],
  'vmq pin': [['$0 vmq pin sw0 vm1 1', "vm1's queue on the worker pinned to CPU 1"], ['$0 vmq pin sw0 vm1 --worker 0', 'on worker 0']],
  'vmq unpin': [['$0 vmq unpin sw0 vm1', 'follow the load again']],
  'help': [['$0 help port set', 'the same as xvs port set --help']],
};

/**
 * `y` as seen by the command modules: every command registered through it, and through the builders
 * of its subcommands, gets EXAMPLES[its path] after its own builder ran. (A proxy rather than a call
 * in each builder: the table stays the one place the examples are written.)
 */
export function withExamples<T>(y: Argv<T>, parent: readonly string[] = []): Argv<T> {
  const proxy: Argv<T> = new Proxy(y, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      const method = value as (...args: unknown[]) => unknown;
      return (...args: unknown[]): unknown => {
        const [cmd, , builder] = args;
        if (prop === 'command' && typeof cmd === 'string' && typeof builder === 'function') {
          const path = [...parent, cmd.split(' ')[0]!];
          const build = builder as (c: Argv<T>) => Argv<T> | undefined;
          args[2] = (c: Argv<T>): Argv<T> => {
            let r = build(withExamples(c, path)) ?? c;
            for (const [line, what] of EXAMPLES[path.join(' ')] ?? []) r = r.example(line, what);
            return r;
          };
        }
        const result = method.apply(target, args);
        return result === target ? proxy : result;
      };
    },
  });
  return proxy;
}
