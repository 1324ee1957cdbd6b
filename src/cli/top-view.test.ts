/** `xvs top`'s rates, sort orders and screen layout from two samples. */
import test from 'ava';
import type { SwitchStats } from '../switch/manager-api.js';
import { parseSortKey, renderTop, si, sortPorts, topRates, type TopSample } from './top-view.js';

function sampleAt(at: number, k: number, portCount = 3): TopSample {
  const stats: SwitchStats = {
    name: 'sw0', type: 'private', drops: {},
    ports: Array.from({ length: portCount }, (_, i) => ({
      name: `p${i}`, kind: 'vm' as const, netdev: `t${i}`,
      rxPackets: k * (i + 1) * 100, rxBytes: k * (i + 1) * 100_000, txPackets: k * (portCount - i) * 10, txBytes: k * 1000,
      drops: (i === 0 ? { runt: k * 5, 'no-destination': k * 50 } : {}) as Record<string, number>, txErrors: 0, txTunnelGso: 0,
      macs: 0, macLimit: 1, macLimitHits: 0, policy: {},
    })),
    fdb: { entries: 0, limit: 1, learned: 0, moves: 0, limitHits: 0, aged: 0, portLimitHits: 0 },
    workers: [{ index: 0, tid: 4242, cpu: 1, breaths: 0, batches: k * 30, idlePolls: 0, coalesceWaits: 0, restarts: 0 }],
  };
  return {
    at,
    switches: [{
      stats,
      vmq: { switch: 'sw0', cpus: [1], cpusFrom: 'config', intervalMs: 1000, workers: [{ index: 0, tid: 4242, cpu: 1, busy: 37.5, queues: [] }], queues: [] },
      extensions: [
        { name: 'learning', version: '1', kind: 'forward', summary: '', source: 'builtin', enabled: true, running: true, onError: 'drop', config: {}, counters: { frames: k * 600, drops: k * 2, errors: 0, batches: 0 } },
        { name: 'pcap', version: '1', kind: 'capture', summary: '', source: 'builtin', enabled: false, running: false, onError: 'bypass', config: {}, counters: {} },
      ],
    }],
    cpuSeconds: new Map([[4242, k * 0.25]]),
  };
}

test('rates over the interval: pps, bit/s, drops by reason, CPU % from thread time, busy % from VMQ', (t) => {
  const v = topRates(sampleAt(1000, 1), sampleAt(3000, 3)); // 2 s, counters ×3 of ×1
  t.is(v.seconds, 2);
  const p0 = v.ports.find((p) => p.port === 'p0')!;
  t.is(p0.rxPps, 100);
  t.is(p0.rxBps, 8 * 100_000);
  t.is(p0.dropsPs, 55);
  t.deepEqual(p0.reasons, [['no-destination', 50], ['runt', 5]]);
  t.is(v.workers[0].cpuPercent, 25);
  t.is(v.workers[0].busy, 37.5);
  t.is(v.workers[0].batchesPs, 30);
  t.deepEqual(v.extensions.map((e) => [e.extension, e.state, e.framesPs, e.dropsPs]), [['learning', 'running', 600, 2]], 'disabled extensions are left out');
});

test('sort orders: rates descending, name ascending; --sort names the flag', (t) => {
  const v = topRates(sampleAt(0, 1), sampleAt(1000, 2));
  t.deepEqual(sortPorts(v.ports, 'rx-pps').map((p) => p.port), ['p2', 'p1', 'p0']);
  t.deepEqual(sortPorts(v.ports, 'tx-pps').map((p) => p.port), ['p0', 'p1', 'p2']);
  t.deepEqual(sortPorts(v.ports, 'drops').map((p) => p.port)[0], 'p0');
  t.deepEqual(sortPorts(v.ports, 'name').map((p) => p.port), ['p0', 'p1', 'p2']);
  t.throws(() => parseSortKey('fast'), { message: /^--sort: expected one of rx-pps, / });
});

test('the screen: title, ports, workers, extensions; cut to the terminal, saying how many ports are left out', (t) => {
  const v = topRates(sampleAt(0, 1, 40), sampleAt(1000, 2, 40));
  const full = renderTop(v, { sort: 'rx-pps', columns: Infinity, rows: Infinity, title: 'T' });
  t.regex(full, /^T\n\nSWITCH +PORT +KIND +RX-PPS/);
  t.regex(full, /sw0 +p39 +vm +4\.0k +32\.00M +10 +8\.0k +0 +-\n/);
  t.regex(full, /no-destination 50, runt 5/);
  t.regex(full, /sw0 +0 +4242 +1 +25\.0 +37\.5 +30/);
  t.regex(full, /learning +running +600 +2 +0/);
  const small = renderTop(v, { sort: 'rx-pps', columns: 50, rows: 20, title: 'T', status: 'S' });
  const lines = small.split('\n');
  t.true(lines.length <= 20);
  t.true(lines.every((l) => l.length <= 50));
  t.regex(small, /… \d+ more ports/);
  t.regex(small, /WORKER/, 'workers still shown');
  t.is(lines[1], 'S');
  t.is(si(1_234_567), '1.23M');
  t.is(si(0.25), '0.3');
});
