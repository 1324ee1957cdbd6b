/** Frames and checks for the HNV wire-format tests (allocate freely: never on the data path). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import type { FramePool } from '../core/frame-pool.js';
import { mac } from './frames.js';
import { writeClassicPcap } from './pcap.js';

export interface IpFrameSpec {
  dst?: string;
  src?: string;
  v6?: boolean;
  srcIp?: number[];
  dstIp?: number[];
  proto?: 6 | 17 | 1 | 58;
  sport?: number;
  dport?: number;
  payload: number;
  /** TCP: initial sequence number */
  seq?: number;
  /** TCP flags byte */
  flags?: number;
  ipId?: number;
  df?: boolean;
  vlan?: number;
}

/** Ethernet + IPv4/IPv6 + TCP (20 bytes + 12 bytes of options) or UDP, with a patterned payload */
export function ipFrame(s: IpFrameSpec): Uint8Array {
  const v6 = s.v6 ?? false;
  const proto = s.proto ?? 6;
  const l3 = s.vlan !== undefined ? 18 : 14;
  const ipl = v6 ? 40 : 20;
  const l4h = proto === 6 ? 32 : 8;
  const f = new Uint8Array(l3 + ipl + l4h + s.payload);
  f.set(mac(s.dst ?? '02:00:00:00:00:0b'), 0);
  f.set(mac(s.src ?? '02:00:00:00:00:0a'), 6);
  if (s.vlan !== undefined) { f[12] = 0x81; f[13] = 0; f[14] = s.vlan >> 8; f[15] = s.vlan & 0xff; }
  const et = v6 ? 0x86dd : 0x0800;
  f[l3 - 2] = et >> 8; f[l3 - 1] = et & 0xff;
  const ip = l3;
  const l4len = l4h + s.payload;
  if (v6) {
    f[ip] = 0x60; f[ip + 4] = l4len >> 8; f[ip + 5] = l4len & 0xff; f[ip + 6] = proto; f[ip + 7] = 64;
    f.set(s.srcIp ?? [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], ip + 8);
    f.set(s.dstIp ?? [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2], ip + 24);
  } else {
    const tot = 20 + l4len;
    f[ip] = 0x45; f[ip + 2] = tot >> 8; f[ip + 3] = tot & 0xff;
    const id = s.ipId ?? 0x1234;
    f[ip + 4] = id >> 8; f[ip + 5] = id & 0xff;
    if (s.df ?? true) f[ip + 6] = 0x40;
    f[ip + 8] = 64; f[ip + 9] = proto;
    f.set(s.srcIp ?? [10, 0, 0, 1], ip + 12);
    f.set(s.dstIp ?? [10, 0, 0, 2], ip + 16);
    const c = inetChecksum(f, ip, 20, 0);
    f[ip + 10] = c >> 8; f[ip + 11] = c & 0xff;
  }
  const t = ip + ipl;
  const sport = s.sport ?? 40000;
  const dport = s.dport ?? 5201;
  f[t] = sport >> 8; f[t + 1] = sport & 0xff; f[t + 2] = dport >> 8; f[t + 3] = dport & 0xff;
  if (proto === 6) {
    const seq = s.seq ?? 0xfffff000; // wraps within a 64 KiB frame
    f[t + 4] = seq >>> 24; f[t + 5] = (seq >>> 16) & 0xff; f[t + 6] = (seq >>> 8) & 0xff; f[t + 7] = seq & 0xff;
    f[t + 11] = 1; // ack
    f[t + 12] = 0x80; // data offset 8 words
    f[t + 13] = s.flags ?? 0x18;
    f[t + 14] = 0xff; f[t + 15] = 0xff;
    f.set([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], t + 20); // NOP NOP timestamps
  } else if (proto === 17) {
    f[t + 4] = l4len >> 8; f[t + 5] = l4len & 0xff;
  }
  for (let k = 0; k < s.payload; k++) f[t + l4h + k] = (k * 7 + (k >> 8)) & 0xff;
  return f;
}

/** the Internet checksum of b[o, o+n) plus an unfolded sum */
export function inetChecksum(b: Uint8Array, o: number, n: number, sum: number): number {
  let s = sum;
  for (let k = 0; k + 1 < n; k += 2) s += (b[o + k] << 8) | b[o + k + 1];
  if (n & 1) s += b[o + n - 1] << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** pseudo-header sum of the IP packet at `ip` for an L4 segment of `l4len` bytes */
export function pseudo(b: Uint8Array, ip: number, l4len: number): number {
  const v6 = (b[ip] >> 4) === 6;
  let s = 0;
  if (v6) for (let k = 8; k < 40; k += 2) s += (b[ip + k] << 8) | b[ip + k + 1];
  else for (let k = 12; k < 20; k += 2) s += (b[ip + k] << 8) | b[ip + k + 1];
  return s + (v6 ? b[ip + 6] : b[ip + 9]) + l4len;
}

/** put `frame` into a fresh slot with the given virtio-net header fields */
export function slotWithVnet(pool: FramePool, frame: Uint8Array, vnet: { flags?: number; gsoType?: number; hdrLen?: number; gsoSize?: number; csumStart?: number; csumOffset?: number }): number {
  const id = pool.fromBytes(frame);
  if (id < 0) throw new Error('pool exhausted');
  const b = pool.bytes;
  const base = id * pool.slotSize;
  b[base] = vnet.flags ?? 0;
  b[base + 1] = vnet.gsoType ?? 0;
  const put = (o: number, v: number): void => { b[base + o] = v & 0xff; b[base + o + 1] = v >> 8; };
  put(2, vnet.hdrLen ?? 0); put(4, vnet.gsoSize ?? 0); put(6, vnet.csumStart ?? 0); put(8, vnet.csumOffset ?? 0);
  return id;
}

/** the virtio-net header of frame `id` */
export function vnetOf(pool: FramePool, id: number): { flags: number; gsoType: number; hdrLen: number; gsoSize: number; csumStart: number; csumOffset: number } {
  const b = pool.bytes;
  const base = id * pool.slotSize;
  const g = (o: number): number => b[base + o] | (b[base + o + 1] << 8);
  return { flags: b[base], gsoType: b[base + 1], hdrLen: g(2), gsoSize: g(4), csumStart: g(6), csumOffset: g(8) };
}

/** complete a NEEDS_CSUM frame's checksum as the kernel would (frame bytes, vnet offsets MAC-relative) */
export function completeChecksum(frame: Uint8Array, csumStart: number, csumOffset: number): void {
  const c = inetChecksum(frame, csumStart, frame.length - csumStart, 0);
  frame[csumStart + csumOffset] = c >> 8;
  frame[csumStart + csumOffset + 1] = c & 0xff;
}

/** run tshark over frames with checksum validation on; one array of field values per frame */
export function tsharkFields(frames: Uint8Array[], fields: string[], extra: string[] = []): string[][] {
  const dir = mkdtempSync(join(tmpdir(), 'xvs-hnv-'));
  try {
    const file = join(dir, 'f.pcap');
    writeClassicPcap(file, frames);
    const args = ['-r', file, '-T', 'fields', '-E', 'separator=|', '-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE',
      '-o', 'udp.check_checksum:TRUE', ...extra];
    for (const f of fields) args.push('-e', f);
    const r = spawnSync('tshark', args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`tshark failed: ${r.stderr}`);
    return r.stdout.trimEnd().split('\n').map((l) => l.split('|'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

