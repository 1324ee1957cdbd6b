/**
 * filter `firewall`: ordered allow/deny rules over compiled frame matchers (packet/match.ts).
 *
 * Ingress: every live frame is checked against the ingress rules that cover its source port; the
 * first match decides, else `default`. Egress: for every destination of a frame, the egress rules
 * that cover that destination port are checked; the first match decides (deny removes only that
 * destination with excludeDestination); when none matches the destination is kept (the frame was
 * already admitted on ingress). Rules are compiled in create/reconfigure; port names are resolved
 * again whenever the switch's ports change (ctx.portsVersion). The hot loops match each frame in
 * place (view.matches: the whole frame, so an IPv6 extension header chain is followed to its end,
 * see packet/match.ts) and allocate nothing.
 */
import type { ConfigValue, ExtensionConfig, ExtensionContext, FilterView } from '../api.js';
import { defineFilter } from '../api.js';
import { MAX_PORTS_PER_SWITCH } from '../../config/types.js';
import { ConfigError } from '../../core/errors.js';
import { compileMatch, matchFromConfig, type FrameMatcher } from '../../packet/match.js';

/** one counter slot per rule: an extension has 28 counter slots, 3 are allowed/denied/excluded */
export const MAX_RULES = 25;

export interface FirewallRule {
  index: number;
  /** drop reason / log label: `rule NAME` or `rule INDEX` */
  label: string;
  matcher: FrameMatcher;
  deny: boolean;
  ingress: boolean;
  egress: boolean;
  /** null: every port (and originated frames) */
  ports: string[] | null;
  /** 1 at [port + 1] for covered ports (index 0 = originated, never covered by a port list) */
  mask: Uint8Array;
}

export interface CompiledFirewall {
  rules: FirewallRule[];
  ingress: FirewallRule[];
  egress: FirewallRule[];
  defaultDeny: boolean;
}

function str(v: ConfigValue | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/**
 * Check and compile a validated configuration (the spec has filled defaults). Errors are
 * ConfigErrors naming `${path}.rules[i].<key>`.
 */
export function compileFirewall(config: ExtensionConfig, path = 'config'): CompiledFirewall {
  const list = Array.isArray(config.rules) ? config.rules : [];
  if (list.length > MAX_RULES) {
    throw new ConfigError(`${path}.rules`, `at most ${MAX_RULES} rules (one hit counter each), got ${list.length}; combine matches with prefixes and port ranges`);
  }
  const rules: FirewallRule[] = [];
  const names = new Set<string>();
  list.forEach((item, index) => {
    const p = `${path}.rules[${index}]`;
    const r = (typeof item === 'object' && item !== null && !Array.isArray(item) ? item : {}) as { [k: string]: ConfigValue };
    const hasMatch = r.match !== undefined;
    const hasSpec = r.spec !== undefined;
    if (hasMatch === hasSpec) throw new ConfigError(`${p}.match`, 'give exactly one of match (an expression) or spec (an object)');
    const spec = hasMatch ? matchFromConfig(r.match, `${p}.match`) : matchFromConfig(r.spec, `${p}.spec`);
    const name = str(r.name);
    if (name !== undefined) {
      if (names.has(name)) throw new ConfigError(`${p}.name`, `"${name}" names an earlier rule too`);
      names.add(name);
    }
    const dir = str(r.direction) ?? 'ingress';
    let ports: string[] | null = null;
    if (Array.isArray(r.ports)) {
      ports = r.ports.map((x, k) => {
        if (typeof x !== 'string' || x === '') throw new ConfigError(`${p}.ports[${k}]`, `expected a port name, got ${JSON.stringify(x)}`);
        return x;
      });
      if (ports.length === 0) throw new ConfigError(`${p}.ports`, 'empty list (leave it out for every port)');
    }
    rules.push({
      index, label: `rule ${name ?? index}`, matcher: compileMatch(spec), deny: r.action === 'deny',
      ingress: dir !== 'egress', egress: dir !== 'ingress', ports, mask: new Uint8Array(MAX_PORTS_PER_SWITCH + 1),
    });
  });
  return {
    rules, ingress: rules.filter((r) => r.ingress), egress: rules.filter((r) => r.egress),
    defaultDeny: config.default === 'deny',
  };
}

class Firewall {
  private fw: CompiledFirewall;
  private readonly ctx: ExtensionContext;
  private portsVersion = -1;
  private readonly dst = new Int32Array(MAX_PORTS_PER_SWITCH);
  /** per frame: index into fw.ingress of the deciding rule, -1 = default */
  private verdict = new Int32Array(256);
  /** egress: per rule of fw.egress, does the current frame match (-1 unknown, 0, 1) */
  private readonly matched = new Int8Array(MAX_RULES);
  private readonly cAllowed: number;
  private readonly cDenied: number;
  private readonly cExcluded: number;
  private readonly cRule0: number;

  constructor(config: ExtensionConfig, ctx: ExtensionContext) {
    this.ctx = ctx;
    this.fw = compileFirewall(config);
    this.cAllowed = ctx.counterIndex('allowed');
    this.cDenied = ctx.counterIndex('denied');
    this.cExcluded = ctx.counterIndex('excluded');
    this.cRule0 = ctx.counterIndex('rule0');
  }

  reconfigure(config: ExtensionConfig): void {
    this.fw = compileFirewall(config);
    this.portsVersion = -1;
  }

  /** resolve every rule's port names to a mask (only when ports changed or after reconfigure) */
  private resolvePorts(): void {
    const ctx = this.ctx;
    if (ctx.portsVersion === this.portsVersion) return;
    this.portsVersion = ctx.portsVersion;
    for (const r of this.fw.rules) {
      r.mask.fill(r.ports === null ? 1 : 0);
      if (r.ports === null) continue;
      for (const name of r.ports) {
        const k = ctx.portIndex(name);
        if (k >= 0 && k < MAX_PORTS_PER_SWITCH) r.mask[k + 1] = 1;
      }
    }
  }

  ingress(view: FilterView): void {
    const rules = this.fw.ingress;
    if (rules.length === 0 && !this.fw.defaultDeny) {
      if (!this.ctx.tracing) this.countAllowed(view);
      return;
    }
    this.resolvePorts();
    if (view.count > this.verdict.length) this.verdict = new Int32Array(view.count); // once, for a larger batch size
    const verdict = this.verdict;
    const n = view.count;
    // classify: the deciding rule per frame
    for (let i = 0; i < n; i++) {
      verdict[i] = -2;
      if (view.dropped(i)) continue;
      const from = view.portOf(i) + 1;
      let hit = -1;
      for (let k = 0; k < rules.length; k++) {
        const r = rules[k];
        if (r.mask[from] === 1 && view.matches(i, r.matcher)) { hit = k; break; }
      }
      verdict[i] = hit;
    }
    // act
    const tracing = this.ctx.tracing;
    const c = this.ctx.counters;
    const defaultDeny = this.fw.defaultDeny;
    for (let i = 0; i < n; i++) {
      const v = verdict[i];
      if (v === -2) continue;
      const deny = v < 0 ? defaultDeny : rules[v].deny;
      if (deny) view.drop(i, v < 0 ? 'default deny' : rules[v].label);
      if (tracing) continue;
      c[deny ? this.cDenied : this.cAllowed]++;
      if (v >= 0) c[this.cRule0 + rules[v].index]++;
    }
  }

  private countAllowed(view: FilterView): void {
    let live = 0;
    for (let i = 0; i < view.count; i++) if (!view.dropped(i)) live++;
    this.ctx.counters[this.cAllowed] += live;
  }

  egress(view: FilterView): void {
    const rules = this.fw.egress;
    if (rules.length === 0) return;
    this.resolvePorts();
    const dst = this.dst;
    const matched = this.matched;
    const tracing = this.ctx.tracing;
    const c = this.ctx.counters;
    for (let i = 0; i < view.count; i++) {
      if (view.dropped(i)) continue;
      const nd = view.destinations(i, dst);
      if (nd === 0) continue;
      for (let k = 0; k < rules.length; k++) matched[k] = -1;
      for (let d = 0; d < nd; d++) {
        const port = dst[d];
        for (let k = 0; k < rules.length; k++) {
          const r = rules[k];
          if (r.mask[port + 1] !== 1) continue;
          if (matched[k] === -1) matched[k] = view.matches(i, r.matcher) ? 1 : 0;
          if (matched[k] === 0) continue;
          if (r.deny) {
            view.excludeDestination(i, port);
            if (!tracing) c[this.cExcluded]++;
          }
          if (!tracing) c[this.cRule0 + r.index]++;
          break;
        }
      }
    }
  }
}

const counters: Record<string, string> = {
  allowed: 'frames admitted on ingress (by an allow rule or the default)',
  denied: 'frames dropped on ingress (by a deny rule or the default)',
  excluded: 'egress destinations removed by deny rules (one per frame and port)',
};
for (let k = 0; k < MAX_RULES; k++) counters[`rule${k}`] = `hits of rule ${k} (its position in rules), on either path`;

export default defineFilter({
  name: 'firewall',
  version: '1.0.0',
  kind: 'filter',
  doc: {
    synopsis: 'firewall rules=[{match|spec, action=allow|deny, direction=ingress|egress|both, ports=[…], name}…] default=allow|deny',
    summary: 'Ordered allow/deny rules over frame fields, per source port on ingress and per destination port on egress.',
    description: 'Each rule has a match (an expression such as `ipv4.dst=10.0.0.0/24,tcp.dst=80`, `eth.type=arp` or `any`, or a '
      + '`spec` object with ethType, srcMac, dstMac, vlan, srcIp, dstIp, proto, srcPort, dstPort, icmpType) and an action. '
      + 'Ingress: a frame is checked against the ingress rules (direction ingress or both) that cover its SOURCE port, in '
      + 'order; the first match decides; when none matches, `default` decides. A denied frame is dropped as extension-drop '
      + 'with the reason `rule NAME` (or `rule INDEX`), or `default deny`. Egress: for each destination port of a frame, '
      + 'the egress rules (direction egress or both) that cover that DESTINATION port are checked in order; a deny removes '
      + 'only that destination (excludeDestination), the frame still goes to the others; when no egress rule matches, the '
      + 'destination is kept (`default` is the ingress verdict only). Rules are compiled when configured, never per frame.',
    path: 'both: ingress (by source port, before forwarding) and egress (by destination port, after forwarding).',
    notes: `At most ${MAX_RULES} rules (each has its own hit counter rule0..rule${MAX_RULES - 1}, by position in the list; an `
      + 'extension has 28 counter slots); more is a configuration error. Matching reads the frame in place: Ethernet, one '
      + 'VLAN tag, IPv4 with options (within its total length), IPv6 through its extension header chain (at most 16 '
      + 'headers; a longer or truncated chain has no protocol or ports, so only allow rules with default=deny are safe '
      + 'against it), L4 ports. `ports` lists port names; a rule with '
      + 'ports never covers frames originated by the switch or other extensions (source port -1), a rule without ports '
      + 'covers every port and them. Port names are resolved again when ports are added or removed, so a rule may name a '
      + 'port that does not exist yet. To make a port default-deny on egress, end its egress rules with '
      + '`{match: any, action: deny, direction: egress, ports: [P]}`. With default=deny remember ARP (`eth.type=arp`) and '
      + 'DHCP (`udp.dst=67-68`). Reconfigure keeps counters (per-rule counters follow positions). Synthetic `xvs trace` '
      + 'frames are decided but not counted. Counters are per worker and summed.',
    seeAlso: 'packet/match.ts (match expression grammar); xvs trace; dhcp-server; Hyper-V port ACLs (Add-VMNetworkAdapterAcl)',
  },
  config: {
    rules: {
      type: 'list', default: [], doc: `ordered rules, first match wins (at most ${MAX_RULES})`,
      items: {
        type: 'object', keys: {
          match: { type: 'string', doc: 'match expression, e.g. "ipv4.src=10.0.0.0/8,tcp.dst=22", "eth.type=arp", "any" (this or spec)' },
          spec: {
            type: 'object', doc: 'the match as an object (this or match)', keys: {
              ethType: { type: 'string', doc: 'EtherType: 0x0800, arp, ipv4, ipv6' },
              srcMac: { type: 'string', doc: 'source MAC' },
              dstMac: { type: 'string', doc: 'destination MAC' },
              vlan: { type: 'integer', doc: 'VLAN ID', min: 0, max: 4095 },
              srcIp: { type: 'string', doc: 'source address[/len], IPv4 or IPv6' },
              dstIp: { type: 'string', doc: 'destination address[/len], IPv4 or IPv6' },
              proto: { type: 'string', doc: 'IP protocol: number, tcp, udp, icmp, icmpv6' },
              srcPort: { type: 'string', doc: 'TCP/UDP source port or range lo-hi' },
              dstPort: { type: 'string', doc: 'TCP/UDP destination port or range lo-hi' },
              icmpType: { type: 'integer', doc: 'ICMP (IPv4) or ICMPv6 type', min: 0, max: 255 },
            },
          },
          action: { type: 'enum', values: ['allow', 'deny'], required: true, doc: 'what a matching frame gets' },
          direction: { type: 'enum', values: ['ingress', 'egress', 'both'], default: 'ingress', doc: 'ingress: by source port; egress: by destination port' },
          ports: { type: 'list', items: { type: 'string', doc: 'port name' }, doc: 'ports the rule covers (default: every port)' },
          name: { type: 'string', doc: 'label for drop reasons and logs (default: the rule index)', pattern: /^[A-Za-z0-9_.:-]{1,32}$/ },
        },
      },
    },
    default: { type: 'enum', values: ['allow', 'deny'], default: 'allow', doc: 'ingress verdict when no rule matches' },
  },
  counters,
  validate(config) {
    compileFirewall(config);
  },
  create(config, ctx) {
    return new Firewall(config, ctx);
  },
});
