/**
 * Lookup structures of the HNV data path, built by configure (control-plane speed) and read per frame
 * without allocation: an open-addressing hash from three 32-bit words to a non-negative int, and the
 * address helpers configure uses.
 */

/** (a, b, c) → value ≥ 0; -1 when absent. Built once per configure; never grows on the data path. */
export class Key3Map {
  private readonly mask: number;
  private readonly ka: Int32Array;
  private readonly kb: Int32Array;
  private readonly kc: Int32Array;
  private readonly val: Int32Array;

  constructor(entries: number) {
    let cap = 16;
    while (cap < entries * 2) cap <<= 1;
    this.mask = cap - 1;
    this.ka = new Int32Array(cap);
    this.kb = new Int32Array(cap);
    this.kc = new Int32Array(cap);
    this.val = new Int32Array(cap).fill(-1);
  }

  private static hash(a: number, b: number, c: number): number {
    let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13) ^ b, 0xc2b2ae35);
    h = Math.imul(h ^ (h >>> 16) ^ c, 0x27d4eb2f);
    return (h ^ (h >>> 15)) >>> 0;
  }

  /** insert or replace (the last one set wins) */
  set(a: number, b: number, c: number, value: number): void {
    a |= 0; b |= 0; c |= 0;
    let k = Key3Map.hash(a, b, c) & this.mask;
    while (this.val[k] >= 0 && !(this.ka[k] === a && this.kb[k] === b && this.kc[k] === c)) k = (k + 1) & this.mask;
    this.ka[k] = a; this.kb[k] = b; this.kc[k] = c; this.val[k] = value;
  }

  get(a: number, b: number, c: number): number {
    a |= 0; b |= 0; c |= 0;
    let k = Key3Map.hash(a, b, c) & this.mask;
    for (;;) {
      const v = this.val[k];
      if (v < 0) return -1;
      if (this.ka[k] === a && this.kb[k] === b && this.kc[k] === c) return v;
      k = (k + 1) & this.mask;
    }
  }
}

/** "10.1.0.2" → unsigned 32-bit number; -1 when not a dotted-quad IPv4 address */
export function ipv4(s: string): number {
  const p = s.split('.');
  if (p.length !== 4) return -1;
  let v = 0;
  for (const x of p) {
    if (!/^\d{1,3}$/.test(x)) return -1;
    const n = Number(x);
    if (n > 255) return -1;
    v = v * 256 + n;
  }
  return v;
}

export function ipv4Text(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** the network mask of a prefix length, as an unsigned number */
export function maskOf(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

/** "02:00:00:00:00:01" → 6 bytes (throws with `path` named when malformed) */
export function macBytes(s: string, path: string): Uint8Array {
  const m = /^([0-9a-f]{2})[:-]?([0-9a-f]{2})[:-]?([0-9a-f]{2})[:-]?([0-9a-f]{2})[:-]?([0-9a-f]{2})[:-]?([0-9a-f]{2})$/i.exec(s.trim());
  if (!m) throw new Error(`${path}: expected a MAC address, got ${JSON.stringify(s)}`);
  return Uint8Array.from(m.slice(1), (x) => parseInt(x, 16));
}

export function macHi(b: Uint8Array, o: number): number {
  return (b[o] << 8) | b[o + 1];
}

/** low 32 bits of a MAC as a signed int (Int32Array-compatible) */
export function macLo(b: Uint8Array, o: number): number {
  return (b[o + 2] << 24) | (b[o + 3] << 16) | (b[o + 4] << 8) | b[o + 5];
}

export function macText(hi: number, lo: number): string {
  const b = [hi >>> 8, hi & 255, (lo >>> 24) & 255, (lo >>> 16) & 255, (lo >>> 8) & 255, lo & 255];
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** read a big-endian IPv4 address at bytes[o..o+4) as an unsigned number */
export function readIpv4(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

export function writeIpv4(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24; b[o + 1] = (v >>> 16) & 255; b[o + 2] = (v >>> 8) & 255; b[o + 3] = v & 255;
}

/** (a, b, c, d, e) → value ≥ 0; -1 when absent: a VSID or domain and an IPv6 address as four words */
export class Key5Map {
  private readonly mask: number;
  private readonly keys: Int32Array;
  private readonly val: Int32Array;

  constructor(entries: number) {
    let cap = 16;
    while (cap < entries * 2) cap <<= 1;
    this.mask = cap - 1;
    this.keys = new Int32Array(cap * 5);
    this.val = new Int32Array(cap).fill(-1);
  }

  private static hash(a: number, b: number, c: number, d: number, e: number): number {
    let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13) ^ b, 0xc2b2ae35);
    h = Math.imul(h ^ (h >>> 16) ^ c, 0x27d4eb2f);
    h = Math.imul(h ^ (h >>> 15) ^ d, 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13) ^ e, 0xc2b2ae35);
    return (h ^ (h >>> 16)) >>> 0;
  }

  private same(k: number, a: number, b: number, c: number, d: number, e: number): boolean {
    const o = k * 5;
    const ks = this.keys;
    return ks[o] === a && ks[o + 1] === b && ks[o + 2] === c && ks[o + 3] === d && ks[o + 4] === e;
  }

  set(a: number, b: number, c: number, d: number, e: number, value: number): void {
    a |= 0; b |= 0; c |= 0; d |= 0; e |= 0;
    let k = Key5Map.hash(a, b, c, d, e) & this.mask;
    while (this.val[k] >= 0 && !this.same(k, a, b, c, d, e)) k = (k + 1) & this.mask;
    this.keys.set([a, b, c, d, e], k * 5);
    this.val[k] = value;
  }

  get(a: number, b: number, c: number, d: number, e: number): number {
    a |= 0; b |= 0; c |= 0; d |= 0; e |= 0;
    let k = Key5Map.hash(a, b, c, d, e) & this.mask;
    for (;;) {
      const v = this.val[k];
      if (v < 0) return -1;
      if (this.same(k, a, b, c, d, e)) return v;
      k = (k + 1) & this.mask;
    }
  }
}

/** "fd00:1::2" → four unsigned 32-bit words, or null when not an IPv6 address (no embedded IPv4 form) */
export function ipv6Words(s: string): number[] | null {
  if (!/^[0-9a-f:]+$/i.test(s) || s.split('::').length > 2) return null;
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined];
  const hs = head === '' ? [] : head.split(':');
  const ts = tail === undefined || tail === '' ? [] : tail.split(':');
  const fill = tail === undefined ? 0 : 8 - hs.length - ts.length;
  if (fill < 0 || (tail !== undefined && fill < 1) || (tail === undefined && hs.length !== 8)) return null;
  const groups = [...hs, ...new Array<string>(fill).fill('0'), ...ts];
  if (groups.length !== 8 || groups.some((g) => !/^[0-9a-f]{1,4}$/i.test(g))) return null;
  const n = groups.map((g) => parseInt(g, 16));
  return [0, 1, 2, 3].map((k) => ((n[2 * k] << 16) | n[2 * k + 1]) >>> 0);
}

export function ipv6Text(w: ArrayLike<number>, o = 0): string {
  const g: string[] = [];
  for (let k = 0; k < 4; k++) g.push(((w[o + k] >>> 16) & 0xffff).toString(16), (w[o + k] & 0xffff).toString(16));
  return g.join(':').replace(/(^|:)0(:0)+(:|$)/, '::').replace(/:{3,}/, '::');
}

/** read 32 bits big-endian at bytes[o..o+4) as a signed int (Key5Map words) */
export function readWord(b: Uint8Array, o: number): number {
  return (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3];
}
