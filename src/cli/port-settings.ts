/**
 * `xvs port set|vlan|meter|feature`: a port's Hyper-V settings (Set-VMNetworkAdapter, Set-VMNetworkAdapterVlan,
 * Measure-VM, Set-VMSwitchExtensionPortFeature). The CLI only maps options to a request: the daemon validates
 * every value and names the field (`params.vlan.accessVlanId: expected 1..4094, got 5000`).
 */
import type { Argv } from 'yargs';
import type { PortSetParams, PortView } from '../control/protocol.js';
import { extendedAclText, portAclText, vlanText } from '../config/desired.js';
import type { PortConfig, VlanSetting } from '../config/types.js';
import type { MeterReport } from '../switch/manager-api.js';
import { call, out, printJson, table, withJson, type Cell, type GlobalArgs } from './common.js';

type Parse = (v: string, flag: string) => unknown;

const onOff: Parse = (v, flag) => {
  if (v === 'on' || v === 'true') return true;
  if (v === 'off' || v === 'false') return false;
  throw new Error(`--${flag}: expected on, off or default, got "${v}"`);
};

/** an integer; k, M, G (×1000) and Ki, Mi, Gi (×1024) suffixes allowed where `units` */
const integer = (units: boolean, orDefault = true): Parse => (v, flag) => {
  const m = /^(-?\d+(?:\.\d+)?)\s*(k|M|G|T|Ki|Mi|Gi)?$/.exec(v.trim()); // a negative number goes to the daemon, which names the range
  const mult: Record<string, number> = { k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 };
  if (!m || (!units && m[2] !== undefined)) throw new Error(`--${flag}: expected a number${units ? ' (k, M, G suffixes allowed)' : ''}${orDefault ? ' or "default"' : ''}, got "${v}"`);
  const n = Number(m[1]) * (m[2] ? mult[m[2]] : 1);
  return Number.isInteger(n) ? n : Math.round(n);
};

const text: Parse = (v) => v;

/**
 * `port set` options: one per scalar PortSettings key (config/types.ts); every one takes "default" (back to
 * Hyper-V's default). VLAN, ACLs and features have their own commands.
 */
export const PORT_SET_OPTIONS = [
  { key: 'macLimit', flag: 'mac-limit', parse: integer(false), describe: 'most MAC addresses learned on the port (0..1048576)' },
  { key: 'macAddressSpoofing', flag: 'mac-address-spoofing', parse: onOff, describe: 'on: the VM may send from any source MAC; off (default): only from its own' },
  { key: 'dhcpGuard', flag: 'dhcp-guard', parse: onOff, describe: 'on: drop DHCP server messages (OFFER, ACK, NAK) the VM sends (default off)' },
  { key: 'routerGuard', flag: 'router-guard', parse: onOff, describe: 'on: drop router advertisements and redirects the VM sends (default off)' },
  { key: 'stormLimit', flag: 'storm-limit', parse: integer(true), describe: 'broadcast, multicast and unknown-unicast frames per second the VM may send (0: no limit)' },
  { key: 'maximumBandwidth', flag: 'maximum-bandwidth', parse: integer(true), describe: 'bits per second the VM may send, e.g. 100M (0: no limit; rounded to a multiple of 8)' },
  { key: 'maximumBandwidthBurst', flag: 'maximum-bandwidth-burst', parse: integer(true), describe: 'bytes the VM may send at once above the maximum (token bucket depth)' },
  { key: 'minimumBandwidthWeight', flag: 'minimum-bandwidth-weight', parse: integer(false), describe: 'share of a contended egress, 0..100 (0: none)' },
  { key: 'portMirroring', flag: 'port-mirroring', parse: text, describe: 'none, source (copy what the port sends and receives) or destination (receive the copies)' },
  { key: 'staticMacAddress', flag: 'static-mac', parse: text, describe: "the VM's own MAC (with spoofing off, the only source MAC allowed)" },
  { key: 'vmqWeight', flag: 'vmq-weight', parse: integer(false), describe: 'VMQ weight 1..100: the port gets a queue of its own, read by one data-path worker (0: the default queue; see xvs vmq)' },
  { key: 'virtualSubnetId', flag: 'virtual-subnet-id', parse: integer(false), describe: 'HNV virtual subnet (VSID, 4096..16777214): the port speaks only through HNV, and its netdev gets the overlay MTU' },
] as const;

function addSetOptions<T>(c: Argv<T>): Argv<T> {
  let y = c;
  for (const o of PORT_SET_OPTIONS) y = y.option(o.flag, { type: 'string', describe: `${o.describe}; "default" to clear` });
  return y;
}

const camel = (flag: string): string => flag.replace(/-([a-z])/g, (_, ch: string) => ch.toUpperCase());

/** the lines `port show` prints for a port's settings (absent ones: the default) */
export function settingsLines(pc: PortConfig | undefined): [string, Cell][] {
  if (!pc) return [];
  const onoff = (v: boolean | undefined, dflt: string): string => (v === undefined ? `${dflt} (default)` : v ? 'on' : 'off');
  const num = (v: number | undefined, unit: string, zero: string): string => (v === undefined || v === 0 ? `${zero}${v === undefined ? ' (default)' : ''}` : `${v} ${unit}`);
  return [
    ['vlan', vlanText(pc.vlan)],
    ['mac-address-spoofing', onoff(pc.macAddressSpoofing, 'off')],
    ['static-mac', pc.staticMacAddress ?? null],
    ['dhcp-guard', onoff(pc.dhcpGuard, 'off')],
    ['router-guard', onoff(pc.routerGuard, 'off')],
    ['storm-limit', num(pc.stormLimit, 'frames/s', 'no limit')],
    ['maximum-bandwidth', num(pc.maximumBandwidth, `bits/s${pc.maximumBandwidthBurst !== undefined ? `, burst ${pc.maximumBandwidthBurst} bytes` : ''}`, 'no limit')],
    ['minimum-weight', num(pc.minimumBandwidthWeight, '', 'none')],
    ['port-mirroring', pc.portMirroring ?? 'none (default)'],
    ['acls', pc.acls?.length ? pc.acls.map(portAclText).join('; ') : 'none'],
    ['extended-acls', pc.extendedAcls?.length ? pc.extendedAcls.map(extendedAclText).join('; ') : 'none'],
    ['virtual-subnet-id', pc.virtualSubnetId ?? 'none (default)'],
    ['vmq', pc.vmqWeight ? `weight ${pc.vmqWeight}${pc.vmqPin ? `, pinned to ${'worker' in pc.vmqPin ? `worker ${pc.vmqPin.worker}` : `cpu ${pc.vmqPin.cpu}`}` : ''}` : 'default queue (default)'],
    ['features', pc.features ? Object.entries(pc.features).map(([e, kv]) => `${e}: ${Object.entries(kv).map(([k, v]) => `${k}=${v}`).join(' ')}`).join('; ') : 'none'],
  ];
}

function setResult(a: { json: boolean }, v: PortView & { unchanged?: boolean }): void {
  if (a.json) printJson(v);
  else out(v.unchanged ? `port "${v.name}" of switch "${v.switch}" already has these settings (unchanged)` : `set port "${v.name}" of switch "${v.switch}"`);
}

const portPositionals = <T>(c: Argv<T>): Argv<T & { switch: string; name: string; json: boolean }> =>
  withJson(c).positional('switch', { type: 'string', demandOption: true }).positional('name', { type: 'string', demandOption: true }) as Argv<T & { switch: string; name: string; json: boolean }>;

const VLAN_MODES = ['untagged', 'access', 'trunk', 'isolated', 'community', 'promiscuous'] as const;
/** VLAN option → the VlanSetting key it fills, and the modes it belongs to */
const VLAN_OPTIONS = {
  'vlan-id': { key: 'accessVlanId', modes: ['access'], number: true },
  'allowed-vlan-ids': { key: 'allowedVlanIds', modes: ['trunk'], number: false },
  'native-vlan-id': { key: 'nativeVlanId', modes: ['trunk'], number: true },
  'primary-vlan-id': { key: 'primaryVlanId', modes: ['isolated', 'community', 'promiscuous'], number: true },
  'secondary-vlan-id': { key: 'secondaryVlanId', modes: ['isolated', 'community'], number: true },
  'secondary-vlan-ids': { key: 'secondaryVlanIds', modes: ['promiscuous'], number: false },
} as const;
const VLAN_REQUIRED: Record<(typeof VLAN_MODES)[number], string[]> = {
  untagged: [], access: ['vlan-id'], trunk: ['allowed-vlan-ids'], isolated: ['primary-vlan-id', 'secondary-vlan-id'],
  community: ['primary-vlan-id', 'secondary-vlan-id'], promiscuous: ['primary-vlan-id', 'secondary-vlan-ids'],
};

/** The VlanSetting the `port vlan` options describe (null: no mode given, show the current one). Throws naming the option. */
export function vlanFromOptions(a: Record<string, unknown>): VlanSetting | null {
  const modes = VLAN_MODES.filter((m) => a[m] === true);
  const given = (Object.keys(VLAN_OPTIONS) as (keyof typeof VLAN_OPTIONS)[]).filter((f) => a[camel(f)] !== undefined);
  if (modes.length === 0) {
    if (given.length > 0) throw new Error(`--${given[0]}: name the mode too (--${VLAN_MODES.join(', --')})`);
    return null;
  }
  if (modes.length > 1) throw new Error(`the VLAN modes are mutually exclusive: give one of --${VLAN_MODES.join(', --')} (got --${modes.join(', --')})`);
  const mode = modes[0];
  const out: Record<string, unknown> = { mode };
  for (const f of given) {
    const o = VLAN_OPTIONS[f];
    if (!(o.modes as readonly string[]).includes(mode)) throw new Error(`--${f} goes with --${o.modes.join(' or --')}, not --${mode}`);
    const raw = String(a[camel(f)]);
    out[o.key] = o.number ? integer(false, false)(raw, f) : raw;
  }
  for (const f of VLAN_REQUIRED[mode]) if (a[camel(f)] === undefined) throw new Error(`--${mode} needs --${f}`);
  return out as unknown as VlanSetting;
}

function meterTable(r: MeterReport): string {
  const rows: Cell[][] = r.entries.map((e) => [e.index, e.direction, e.localAddress ?? '-', e.remoteAddress ?? '-', e.inboundBytes, e.inboundPackets, e.outboundBytes, e.outboundPackets]);
  rows.push(['total', '', '', '', r.totals.inboundBytes, r.totals.inboundPackets, r.totals.outboundBytes, r.totals.outboundPackets]);
  const head = `port ${r.switch}/${r.port}: metered traffic since ${r.since}${r.reset ? ' (now reset to zero)' : ''}`;
  if (r.entries.length === 0) return `${head}\nno meter ACL entries (add one: xvs acl add ${r.switch} ${r.port} --action meter --direction both --remote-ip-address 0.0.0.0/0)`;
  return `${head}\n${table(['ACL', 'DIRECTION', 'LOCAL', 'REMOTE', 'IN-BYTES', 'IN-PACKETS', 'OUT-BYTES', 'OUT-PACKETS'], rows)}`;
}

/** `key=value` words → settings (values are strings) */
function featurePairs(pairs: string[]): Record<string, string> {
  const outp: Record<string, string> = {};
  for (const p of pairs) {
    const k = p.indexOf('=');
    if (k <= 0) throw new Error(`expected key=value, got "${p}"`);
    outp[p.slice(0, k)] = p.slice(k + 1);
  }
  return outp;
}

/** the settings subcommands of `xvs port` */
export function portSettingCommands<T extends GlobalArgs>(py: Argv<T>): Argv<T> {
  return py
    .command(
      'set <switch> <name>',
      "change a VM port's settings in place (the VM keeps its link); Set-VMNetworkAdapter",
      (c) => addSetOptions(portPositionals(c))
        .example('$0 port set sw0 vm1 --dhcp-guard on --router-guard on', 'guard against a rogue DHCP server and router')
        .example('$0 port set sw0 vm1 --maximum-bandwidth 100M --maximum-bandwidth-burst 1Mi', 'limit what the VM sends')
        .example('$0 port set sw0 vm1 --storm-limit default', 'back to no storm limit'),
      async (a) => {
        const params: PortSetParams = { switch: a.switch, name: a.name };
        const w = params as unknown as Record<string, unknown>;
        const args = a as unknown as Record<string, unknown>;
        for (const o of PORT_SET_OPTIONS) {
          const v = args[camel(o.flag)];
          if (v === undefined) continue;
          w[o.key] = v === 'default' ? null : o.parse(String(v), o.flag);
        }
        if (Object.keys(params).length === 2) throw new Error(`name a setting: --${PORT_SET_OPTIONS.map((o) => o.flag).join(', --')}`);
        setResult(a, await call(a, 'port.set', params));
      },
    )
    .command(
      'vlan <switch> <name>',
      "set a VM port's VLAN mode (Set-VMNetworkAdapterVlan; modes are mutually exclusive), or show it",
      (c) => {
        let y = portPositionals(c);
        for (const m of VLAN_MODES) y = y.option(m, { type: 'boolean', describe: `${m} mode` });
        return y
          .option('vlan-id', { type: 'string', describe: 'access: the VLAN (1..4094)' })
          .option('allowed-vlan-ids', { type: 'string', describe: 'trunk: the tagged VLANs, e.g. 1-100,200' })
          .option('native-vlan-id', { type: 'string', describe: 'trunk: the VLAN of untagged frames (default 0: untagged)' })
          .option('primary-vlan-id', { type: 'string', describe: 'isolated, community, promiscuous: the primary VLAN' })
          .option('secondary-vlan-id', { type: 'string', describe: 'isolated, community: the secondary VLAN' })
          .option('secondary-vlan-ids', { type: 'string', describe: 'promiscuous: the secondary VLANs, e.g. 200-201' })
          .example('$0 port vlan sw0 vm1 --access --vlan-id 10', 'vm1 is on VLAN 10 (untagged towards the VM)')
          .example('$0 port vlan sw0 vm2 --trunk --allowed-vlan-ids 1-100,200 --native-vlan-id 10', 'tagged VLANs to the VM')
          .example('$0 port vlan sw0 vm3 --isolated --primary-vlan-id 100 --secondary-vlan-id 101', 'a private VLAN port')
          .example('$0 port vlan sw0 vm4 --promiscuous --primary-vlan-id 100 --secondary-vlan-ids 101-102', 'hears the isolated ports')
          .example('$0 port vlan sw0 vm1', 'show the mode');
      },
      async (a) => {
        const vlan = vlanFromOptions(a as unknown as Record<string, unknown>);
        if (vlan === null) {
          const p = await call(a, 'port.show', { switch: a.switch, name: a.name });
          if (a.json) return printJson(p.config?.vlan ?? { mode: 'untagged' });
          return out(`port ${a.switch}/${a.name}: vlan ${vlanText(p.config?.vlan)}`);
        }
        // untagged is the default: stored as no setting, so the document stays short
        setResult(a, await call(a, 'port.set', { switch: a.switch, name: a.name, vlan: vlan.mode === 'untagged' ? null : vlan }));
      },
    )
    .command(
      'meter <switch> <name>',
      "a port's metered traffic per meter ACL entry (Measure-VM); --reset: then count from zero",
      (c) => portPositionals(c)
        .option('reset', { type: 'boolean', default: false, describe: 'after reporting, count from zero (Reset-VMResourceMetering)' })
        .example('$0 acl add sw0 vm1 --action meter --direction both --remote-ip-address 0.0.0.0/0', 'meter all IPv4 traffic of vm1')
        .example('$0 port meter sw0 vm1 --reset', 'report it, and start again from zero'),
      async (a) => {
        const r = await call(a, 'port.meter', { switch: a.switch, name: a.name, ...(a.reset ? { reset: true } : {}) });
        if (a.json) return printJson(r);
        out(meterTable(r));
      },
    )
    .command(
      'feature',
      "an extension's per-port settings (Set-VMSwitchExtensionPortFeature)",
      (fy) => fy
        .command(
          'set <switch> <name> <extension> <pairs..>',
          "set keys of an extension's settings on a port (checked by the extension when applied)",
          (c) => portPositionals(c)
            .positional('extension', { type: 'string', demandOption: true })
            .positional('pairs', { type: 'string', array: true, demandOption: true, describe: 'key=value ...' })
            .example('$0 port feature set sw0 vm1 port-guard blocked=true', 'a key the extension declares (examples/port-guard)'),
          async (a) => {
            const r = await call(a, 'port.feature.set', { switch: a.switch, name: a.name, extension: a.extension, settings: featurePairs(a.pairs) });
            if (a.json) return printJson(r);
            out(r.unchanged ? `port "${r.name}" already has these ${a.extension} settings (unchanged)` : `set ${a.extension} settings of port "${r.name}" on switch "${r.switch}"`);
          },
        )
        .command(
          'remove <switch> <name> <extension> [keys..]',
          "remove an extension's settings from a port (all, or these keys)",
          (c) => portPositionals(c)
            .positional('extension', { type: 'string', demandOption: true })
            .positional('keys', { type: 'string', array: true }),
          async (a) => {
            const keys = a.keys && a.keys.length > 0 ? { keys: a.keys } : {};
            const r = await call(a, 'port.feature.remove', { switch: a.switch, name: a.name, extension: a.extension, ...keys });
            if (a.json) return printJson(r);
            out(`removed ${a.extension} settings${a.keys?.length ? ` ${a.keys.join(', ')}` : ''} from port "${r.name}" on switch "${r.switch}"`);
          },
        )
        .demandCommand(1, 'name a feature command: set, remove'),
      () => {},
    );
}
