// mac-deny: a third-party xvs filter extension in plain JavaScript (docs/EXTENSIONS.md walks through it).
// It drops frames whose source MAC is on a deny list, on ingress, and counts them.
const parseMac = (s) => s.toLowerCase().split(':').map((x) => parseInt(x, 16));

export default {
  name: 'mac-deny',
  version: '1.0.0',
  kind: 'filter',
  doc: {
    synopsis: 'mac-deny macs=["02:00:00:00:00:01", …]',
    summary: 'Drops frames from denied source MACs.',
    description: 'On ingress, every frame whose source MAC is in `macs` is dropped with the reason "denied source".',
    path: 'ingress',
    notes: 'Checks 6 bytes per frame against each listed MAC; keep the list short.',
    seeAlso: 'firewall (rules on any header field)',
  },
  config: {
    macs: { type: 'list', items: { type: 'string', doc: 'a MAC address' }, default: [], doc: 'source MACs to drop' },
  },
  counters: { denied: 'frames dropped' },
  create(config, ctx) {
    let denied = config.macs.map(parseMac);
    const counter = ctx.counterIndex('denied');
    return {
      ingress(view) {
        for (let i = 0; i < view.count; i++) {
          if (view.dropped(i)) continue;
          for (const mac of denied) {
            let same = true;
            for (let k = 0; k < 6 && same; k++) same = view.byte(i, 6 + k) === mac[k];
            if (same) { view.drop(i, 'denied source'); ctx.counters[counter]++; break; }
          }
        }
      },
      reconfigure(next) { denied = next.macs.map(parseMac); },
    };
  },
};
