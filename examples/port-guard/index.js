// port-guard: a third-party xvs filter extension in plain JavaScript showing the control hooks and
// per-port settings (docs/EXTENSIONS.md, "Control hooks and port features").
//  - portCreate vetoes ports whose name matches the `refuse` pattern (Hyper-V: OID_SWITCH_PORT_CREATE);
//  - a port whose feature `locked=true` cannot be removed (portDelete) nor have MAC spoofing turned on
//    (portSettingsChange);
//  - the port feature `blocked=true` (`xvs port feature set SW PORT port-guard blocked=true`) drops
//    every frame the port sends, on ingress; decided once per batch from the batch's source port.
export default {
  name: 'port-guard',
  version: '1.0.0',
  kind: 'filter',
  doc: {
    synopsis: 'port-guard refuse="^untrusted" (port features: blocked=true|false, locked=true|false)',
    summary: 'Refuses ports by name, drops frames from blocked ports, keeps locked ports and their MAC spoofing off.',
    description:
      'A port whose name matches `refuse` cannot be added (its portCreate hook vetoes it). On ingress, every frame ' +
      'from a port whose port feature `blocked` is true is dropped with the reason "port blocked" and counted. A port ' +
      'whose feature `locked` is true cannot be removed or have MAC spoofing turned on (its portDelete and ' +
      'portSettingsChange hooks veto them).',
    path: 'ingress',
    notes: 'One feature lookup per batch; frames of other ports cost one comparison per batch.',
    seeAlso: 'mac-deny (drops by source MAC); xvs port feature set; docs/POLICIES.md',
  },
  config: {
    refuse: { type: 'string', default: '', doc: 'a regular expression: ports whose name matches are refused ("" = none)' },
  },
  portFeatures: {
    blocked: { type: 'boolean', default: false, doc: 'drop every frame this port sends' },
    locked: { type: 'boolean', default: false, doc: 'the port may not be removed, nor have MAC spoofing turned on' },
  },
  counters: { blocked: 'frames dropped because their port is blocked', vetoes: 'port operations refused' },
  create(config, ctx) {
    let refuse = config.refuse === '' ? null : new RegExp(config.refuse);
    const blockedCounter = ctx.counterIndex('blocked');
    const vetoes = ctx.counterIndex('vetoes');
    return {
      ingress(view) {
        if (view.inPort < 0 || ctx.portFeature(view.inPort, 'blocked') !== true) return;
        for (let i = 0; i < view.count; i++) {
          if (view.dropped(i)) continue;
          view.drop(i, 'port blocked');
          ctx.counters[blockedCounter]++;
        }
      },
      portCreate(port) {
        if (refuse !== null && refuse.test(port.name)) {
          ctx.counters[vetoes]++;
          return { veto: `port name "${port.name}" matches ${refuse}` };
        }
      },
      portDelete(port) {
        if (ctx.portFeature(port.index, 'locked') === true) {
          ctx.counters[vetoes]++;
          return { veto: `port "${port.name}" is locked` };
        }
      },
      portSettingsChange(port, before, after) {
        // `after` is the whole new settings set: a change that unlocks the port is accepted
        const locked = after.features?.['port-guard']?.locked;
        if (locked === 'true' && after.macAddressSpoofing === true && before.macAddressSpoofing !== true) {
          ctx.counters[vetoes]++;
          return { veto: `port "${port.name}" is locked: MAC spoofing stays off` };
        }
      },
      reconfigure(next) { refuse = next.refuse === '' ? null : new RegExp(next.refuse); },
    };
  },
};
