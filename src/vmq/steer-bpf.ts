/**
 * Classic-BPF programs that steer the uplink's frames to workers by destination MAC (+ VLAN)
 * (docs/QUEUES.md, "Steering on the uplink"). Each worker's uplink rx socket gets one
 * (native.setRxFilter, SO_ATTACH_FILTER):
 *
 *   - `only`:   accept the frames whose destination is one of `keys`, drop the rest (a worker that owns
 *               VM queues: the MACs of its queues' ports);
 *   - `except`: drop the frames whose destination is one of `keys`, accept the rest (the default-queue
 *               worker: everything the other workers do not take — broadcast, multicast, unknown).
 *
 * A key is a MAC and the VLAN the frame carries on the uplink: 0 = untagged, 1..4094 = that tag. The
 * kernel has already moved an 802.1Q tag into the frame's metadata when packet sockets see it, so the VLAN
 * is read with the ancillary loads SKF_AD_VLAN_TAG_PRESENT / SKF_AD_VLAN_TAG.
 *
 * One block per key, each ending in its own `ret` so that every jump is short (cBPF jump offsets are 8
 * bits): ld [2]; jeq lo; ldh [0]; jeq hi; [vlan checks]; ret MATCH — 7 instructions untagged, 10 tagged.
 * The kernel takes at most 4096 instructions: MAX_STEER_KEYS keys always fit.
 */

/** instruction codes (linux/filter.h, linux/bpf_common.h) */
const LD_W_ABS = 0x20;
const LD_H_ABS = 0x28;
const JEQ_K = 0x15;
const AND_K = 0x54;
const RET_K = 0x06;
/** SKF_AD_OFF (-0x1000) + SKF_AD_VLAN_TAG / SKF_AD_VLAN_TAG_PRESENT, as unsigned k */
const AD_VLAN_TAG = (0x100000000 - 0x1000 + 44) >>> 0;
const AD_VLAN_TAG_PRESENT = (0x100000000 - 0x1000 + 48) >>> 0;
/** a `ret` value ≥ any frame length: accept the whole frame */
export const ACCEPT = 0x40000;

/** The most keys one program holds (10 instructions each + 1 ≤ 4096); the rest stay with the default queue. */
export const MAX_STEER_KEYS = 400;

export interface SteerKey {
  /** "aa:bb:cc:dd:ee:ff", lower case */
  mac: string;
  /** 0: untagged on the uplink; 1..4094: tagged with this VLAN */
  vlan: number;
}

export type SteerMode = 'only' | 'except';

export interface SteerFilter {
  mode: SteerMode;
  keys: SteerKey[];
}

/** accept everything (the default-queue worker when no other worker steers anything) */
export const ACCEPT_ALL: SteerFilter = { mode: 'except', keys: [] };

/** "aa:bb:cc:dd:ee:ff" → [hi16, lo32] */
function macWords(mac: string): [number, number] {
  const b = mac.split(/[:-]/).map((x) => parseInt(x, 16));
  if (b.length !== 6 || b.some((x) => !(x >= 0 && x <= 255))) throw new Error(`steer: bad MAC "${mac}"`);
  return [(b[0] << 8) | b[1], ((b[2] << 24) | (b[3] << 16) | (b[4] << 8) | b[5]) >>> 0];
}

export function keyId(k: SteerKey): string {
  return k.vlan ? `${k.mac}@${k.vlan}` : k.mac;
}

/**
 * The program for a filter: a Uint32Array of 2 words per instruction (code | jt << 16 | jf << 24, k),
 * as native.setRxFilter takes it. Throws if it would exceed the kernel's limit (more than MAX_STEER_KEYS).
 */
export function steerProgram(f: SteerFilter): Uint32Array {
  if (f.keys.length > MAX_STEER_KEYS) throw new Error(`steer: ${f.keys.length} keys, at most ${MAX_STEER_KEYS} fit one program`);
  const match = f.mode === 'only' ? ACCEPT : 0;
  const miss = f.mode === 'only' ? 0 : ACCEPT;
  const ins: number[] = [];
  const emit = (code: number, jt: number, jf: number, k: number): void => {
    ins.push((code | (jt << 16) | (jf << 24)) >>> 0, k >>> 0);
  };
  for (const key of f.keys) {
    const [hi, lo] = macWords(key.mac);
    // each test skips to the next block when it fails: `rest` = instructions after it in this block
    const vlanLen = key.vlan === 0 ? 2 : 5;
    const len = 5 + vlanLen;
    let at = 0;
    const skip = (): number => len - at - 1;
    emit(LD_W_ABS, 0, 0, 2); at++;
    emit(JEQ_K, 0, skip(), lo); at++;
    emit(LD_H_ABS, 0, 0, 0); at++;
    emit(JEQ_K, 0, skip(), hi); at++;
    emit(LD_W_ABS, 0, 0, AD_VLAN_TAG_PRESENT); at++;
    if (key.vlan === 0) {
      emit(JEQ_K, 0, skip(), 0); at++;
    } else {
      emit(JEQ_K, 0, skip(), 1); at++;
      emit(LD_W_ABS, 0, 0, AD_VLAN_TAG); at++;
      emit(AND_K, 0, 0, 0xfff); at++;
      emit(JEQ_K, 0, skip(), key.vlan); at++;
    }
    emit(RET_K, 0, 0, match); at++;
  }
  emit(RET_K, 0, 0, miss);
  return Uint32Array.from(ins);
}

/**
 * The filter that accepts everything `a` or `b` accepts (a filter swap that adds before it removes:
 * applied first, so a frame is taken by the new owner before the old one lets it go).
 */
export function unionFilter(a: SteerFilter, b: SteerFilter): SteerFilter {
  const ids = (f: SteerFilter): Map<string, SteerKey> => new Map(f.keys.map((k) => [keyId(k), k]));
  const ka = ids(a);
  const kb = ids(b);
  if (a.mode === 'only' && b.mode === 'only') return { mode: 'only', keys: [...new Map([...ka, ...kb]).values()] };
  if (a.mode === 'except' && b.mode === 'except') return { mode: 'except', keys: [...ka].filter(([id]) => kb.has(id)).map(([, k]) => k) };
  // except E ∪ only O = except (E \ O)
  const [e, o] = a.mode === 'except' ? [ka, kb] : [kb, ka];
  return { mode: 'except', keys: [...e].filter(([id]) => !o.has(id)).map(([, k]) => k) };
}

export function sameFilter(a: SteerFilter, b: SteerFilter): boolean {
  if (a.mode !== b.mode || a.keys.length !== b.keys.length) return false;
  const ids = new Set(a.keys.map(keyId));
  return b.keys.every((k) => ids.has(keyId(k)));
}

/**
 * Every worker's filter: worker w accepts the keys of `owned[w]` (its queues' ports), the default-queue
 * worker everything no other worker takes. A key claimed by two workers goes to the first; keys beyond
 * MAX_STEER_KEYS in all are left to the default worker. With one worker: accept all.
 */
export function steerFilters(workers: number, defaultWorker: number, owned: ReadonlyMap<number, readonly SteerKey[]>): SteerFilter[] {
  const taken = new Map<string, number>();
  const per: SteerKey[][] = Array.from({ length: workers }, () => []);
  let total = 0;
  for (let w = 0; w < workers; w++) {
    if (w === defaultWorker) continue;
    for (const k of owned.get(w) ?? []) {
      const id = keyId(k);
      if (taken.has(id) || total >= MAX_STEER_KEYS) continue;
      taken.set(id, w);
      per[w].push(k);
      total++;
    }
  }
  const steered = per.flat();
  return per.map((keys, w) => (w === defaultWorker ? { mode: 'except', keys: steered } : { mode: 'only', keys }));
}
