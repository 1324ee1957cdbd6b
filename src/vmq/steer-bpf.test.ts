/**
 * The uplink steering programs (steer-bpf.ts) run by the kernel: built for a set of MAC (+VLAN) keys,
 * attached to a real AF_PACKET rx socket on a veth (native.setRxFilter), and frames sent from the peer
 * end — untagged and 802.1Q-tagged, to steered MACs, other MACs and broadcast — are checked for which
 * arrive. Plus the pure parts: the union used for add-before-remove swaps and the per-worker split.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { testPrefix, cleanPrefix } from '../lab/netlab.js';
import { native } from '../ports/native/index.js';
import { ACCEPT_ALL, MAX_STEER_KEYS, keyId, steerFilters, steerProgram, unionFilter, type SteerFilter, type SteerKey } from './steer-bpf.js';

const P = testPrefix('sb');
const MAGIC = [0xc0, 0xde];

interface Probe { mac: string; vlan: number }

/** one 64-byte frame per probe (EtherType 0x88b5, after an 802.1Q tag when vlan ≠ 0), probe i carries MAGIC, i */
function sendProbes(h: number, probes: Probe[]): number {
  const slot = 128;
  const n = probes.length;
  const pool = new Uint8Array(slot * n);
  const ids = new Uint32Array(n);
  const start = new Uint32Array(n);
  const len = new Uint32Array(n);
  probes.forEach((p, i) => {
    const dst = p.mac.split(':').map((x) => parseInt(x, 16));
    const head = [...dst, 0x02, 0, 0, 0, 0x5b, 0x01];
    const tag = p.vlan ? [0x81, 0x00, (p.vlan >> 8) & 0x0f, p.vlan & 0xff] : [];
    pool.set([...head, ...tag, 0x88, 0xb5, ...MAGIC, i >> 8, i & 0xff], i * slot);
    ids[i] = i; len[i] = 64;
  });
  return native.sendBatch(h, pool, slot, ids, 0, n, start, len);
}

/** the probe numbers handle h received (any order), waiting briefly for the veth to deliver */
async function received(h: number): Promise<number[]> {
  await new Promise((r) => setTimeout(r, 50));
  const slot = 2048;
  const pool = new Uint8Array(new SharedArrayBuffer(slot * 1024));
  const free = new Uint32Array(1024).map((_, i) => 1023 - i);
  const start = new Uint32Array(1024);
  const len = new Uint32Array(1024);
  const out = new Uint32Array(1024);
  const seen: number[] = [];
  for (;;) {
    const n = native.recvBatch(h, pool, slot, 128, free, 1024, out, 0, 1024, start, len);
    if (n === 0) break;
    for (let i = 0; i < n; i++) {
      const o = out[i] * slot + start[out[i]];
      for (let j = 12; j + 3 < len[out[i]]; j++) {
        if (pool[o + j] === MAGIC[0] && pool[o + j + 1] === MAGIC[1]) { seen.push((pool[o + j + 2] << 8) | pool[o + j + 3]); break; }
      }
    }
    // recvBatch only reads `free` (the caller lowers freeTop): passing 1024 again reuses the same slots
  }
  return seen.sort((a, b) => a - b);
}

const M1 = '52:54:00:aa:00:01';
const M2 = '52:54:00:aa:00:02';
const M3 = '52:54:00:aa:00:03';
const BCAST = 'ff:ff:ff:ff:ff:ff';
const probes: Probe[] = [
  { mac: M1, vlan: 0 },   // 0 steered, untagged
  { mac: M1, vlan: 10 },  // 1 M1 but tagged: not the key
  { mac: M2, vlan: 10 },  // 2 steered, VLAN 10
  { mac: M2, vlan: 0 },   // 3 M2 untagged: not the key
  { mac: M2, vlan: 20 },  // 4 M2 in another VLAN
  { mac: M3, vlan: 0 },   // 5 unknown
  { mac: BCAST, vlan: 0 }, // 6 broadcast
  { mac: BCAST, vlan: 10 }, // 7 broadcast in VLAN 10
];
const keys: SteerKey[] = [{ mac: M1, vlan: 0 }, { mac: M2, vlan: 10 }];

function veth(t: { teardown(fn: () => void): void }, name: string): { tx: number; rx: number } {
  const a = `${P}${name}a`;
  const b = `${P}${name}b`;
  execFileSync('ip', ['link', 'add', a, 'type', 'veth', 'peer', 'name', b]);
  t.teardown(() => { try { execFileSync('ip', ['link', 'del', a]); } catch { /* gone */ } });
  for (const d of [a, b]) {
    execFileSync('sysctl', ['-qw', `net.ipv6.conf.${d}.disable_ipv6=1`]);
    execFileSync('ip', ['link', 'set', d, 'up']);
  }
  const tx = native.openPort(a, { rx: false, ringFrames: 0, frameSize: 0, vnetHdr: false });
  const rx = native.openPort(b, { rx: true, ringFrames: 256, frameSize: 2048, vnetHdr: false });
  t.teardown(() => { native.closePort(tx); native.closePort(rx); });
  return { tx, rx };
}

/** attach `f`, drop what arrived before, send every probe, return the numbers received */
async function through(ports: { tx: number; rx: number }, f: SteerFilter | null): Promise<number[]> {
  if (f) native.setRxFilter(native.portFd(ports.rx), steerProgram(f));
  await received(ports.rx);
  sendProbes(ports.tx, probes);
  return received(ports.rx);
}

test.before(() => cleanPrefix(P));
test.after.always(() => cleanPrefix(P));

test.serial('the kernel runs the programs: only / except a MAC+VLAN set, accept-all, reject-all, and a swap in place', async (t) => {
  const v = veth(t, '1');
  t.deepEqual(await through(v, null), [0, 1, 2, 3, 4, 5, 6, 7], 'no filter: every probe');
  t.deepEqual(await through(v, { mode: 'only', keys }), [0, 2], 'only: M1 untagged and M2 in VLAN 10, nothing else');
  t.deepEqual(await through(v, { mode: 'except', keys }), [1, 3, 4, 5, 6, 7], 'except: exactly the complement');
  t.deepEqual(await through(v, ACCEPT_ALL), [0, 1, 2, 3, 4, 5, 6, 7], 'except nothing = accept all');
  t.deepEqual(await through(v, { mode: 'only', keys: [] }), [], 'only nothing = reject all');
  // the union of the two halves accepts everything (the add-before-remove step of a move)
  t.deepEqual(await through(v, unionFilter({ mode: 'only', keys }, { mode: 'except', keys })), [0, 1, 2, 3, 4, 5, 6, 7]);
  native.setRxFilter(native.portFd(v.rx), new Uint32Array(0));
  t.deepEqual(await through(v, null), [0, 1, 2, 3, 4, 5, 6, 7], 'an empty program detaches the filter');
});

test.serial('a program with the most keys fits the kernel and matches its last key', async (t) => {
  const v = veth(t, '2');
  const many: SteerKey[] = Array.from({ length: MAX_STEER_KEYS - 1 }, (_, i) => ({ mac: `52:54:01:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`, vlan: 100 }));
  many.push({ mac: M2, vlan: 10 });
  const prog = steerProgram({ mode: 'only', keys: many });
  t.true(prog.length / 2 <= 4096, `${prog.length / 2} instructions`);
  t.deepEqual(await through(v, { mode: 'only', keys: many }), [2]);
  t.throws(() => steerProgram({ mode: 'only', keys: [...many, { mac: M3, vlan: 0 }] }), { message: /at most 400/ });
  t.throws(() => native.setRxFilter(native.portFd(v.rx), new Uint32Array([0xffff, 0])), { code: 'EINVAL' }, 'a bad program is refused by the kernel');
});

test('union of filters and the per-worker split', (t) => {
  const a: SteerKey = { mac: M1, vlan: 0 };
  const b: SteerKey = { mac: M2, vlan: 10 };
  const c: SteerKey = { mac: M3, vlan: 0 };
  const ids = (f: SteerFilter): string => `${f.mode}:${f.keys.map(keyId).sort().join(',')}`;
  t.is(ids(unionFilter({ mode: 'only', keys: [a] }, { mode: 'only', keys: [b] })), `only:${M1},${M2}@10`);
  t.is(ids(unionFilter({ mode: 'except', keys: [a, b] }, { mode: 'except', keys: [b, c] })), `except:${M2}@10`);
  t.is(ids(unionFilter({ mode: 'except', keys: [a, b] }, { mode: 'only', keys: [b] })), `except:${M1}`);
  t.is(ids(unionFilter({ mode: 'only', keys: [b] }, { mode: 'except', keys: [a, b] })), `except:${M1}`);
  // worker 0 holds the default queue, 1 and 2 own queues; a key claimed twice goes to the first
  const f = steerFilters(3, 0, new Map([[0, [c]], [1, [a]], [2, [b, a]]]));
  t.deepEqual(f.map(ids), [`except:${M1},${M2}@10`, `only:${M1}`, `only:${M2}@10`]);
  t.deepEqual(steerFilters(1, 0, new Map([[0, [a]]])).map(ids), ['except:'], 'one worker: accept all');
});
