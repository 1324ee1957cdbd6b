/**
 * HNV wire-format bench, in process, from memory: per frame of a 256-frame working set (1400-byte
 * TCP frames of 256 flows), (1) innerFlowHash + encapsulate + parseTunnel + stripOuter, NVGRE and
 * VXLAN; (2) software segmentation of a 64 KiB TCPv4 GSO frame into 1448-byte segments (the segment
 * slots freed after each cut). Prints ns per frame (per segment for (2)) and the median of rounds.
 *
 *   node dist/src/policy/hnv/encap-bench.js [--rounds N] [--frames N]
 */
import { FramePool, HEADROOM } from '../../core/frame-pool.js';
import { ipFrame, slotWithVnet } from '../../test-support/hnv-frames.js';
import { TunnelInfo, TunnelParse, parseTunnel, stripOuter } from './decap.js';
import { buildOuterTemplate, encapsulate, innerFlowHash } from './encap.js';
import { segmentGso } from './segment.js';

function arg(name: string, def: number): number {
  const k = process.argv.indexOf(`--${name}`);
  const v = k < 0 ? def : Number(process.argv[k + 1]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name}: expected a positive number`);
  return v;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1];

function encapDecap(encap: 'nvgre' | 'vxlan', frames: number): number {
  const pool = new FramePool(256, 2048);
  const ids = new Uint32Array(256);
  for (let k = 0; k < 256; k++) ids[k] = pool.fromBytes(ipFrame({ payload: 1400 - 66, sport: 1000 + k }));
  const tpl = buildOuterTemplate({ encap, srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', srcIp: '192.168.1.1', dstIp: '192.168.1.2' });
  const pas = Uint32Array.of(0xc0a80102);
  const info = new TunnelInfo();
  let bad = 0;
  const t0 = process.hrtime.bigint();
  for (let n = 0; n < frames; n++) {
    const id = ids[n & 255];
    encapsulate(pool, id, tpl, 5001 + (n & 7), innerFlowHash(pool, id));
    if (parseTunnel(pool, id, pas, 1, info) !== TunnelParse.ok) bad++;
    stripOuter(pool, id, info.outerLen, info.innerLen);
  }
  const ns = Number(process.hrtime.bigint() - t0) / frames;
  if (bad !== 0 || pool.start[ids[0]] !== HEADROOM) throw new Error('round trip failed');
  return ns;
}

function segment(frames: number): number {
  const pool = new FramePool(64, 70000);
  const gso = ipFrame({ payload: 65000 - 66 });
  const id = slotWithVnet(pool, gso, { flags: 1, gsoType: 1, hdrLen: 66, gsoSize: 1448, csumStart: 34, csumOffset: 16 });
  const master = pool.toBytes(id);
  const base = id * pool.slotSize;
  const vnet = pool.bytes.slice(base, base + 10);
  let segs = 0;
  const t0 = process.hrtime.bigint();
  while (segs < frames) {
    pool.bytes.set(vnet, base); // restore the GSO header and length (the frame bytes beyond stay)
    pool.bytes.set(master.subarray(0, 66), base + HEADROOM);
    pool.len[id] = master.length;
    const n = segmentGso(pool, id, 1514, 0);
    if (n < 2) throw new Error(`segmentation failed: ${n}`);
    segs += n;
    const first = pool.next[id];
    pool.next[id] = -1;
    pool.releaseChain(first);
  }
  return Number(process.hrtime.bigint() - t0) / segs;
}

function main(): void {
  const rounds = arg('rounds', 5);
  const frames = arg('frames', 2_000_000);
  const r: Record<string, number[]> = { nvgre: [], vxlan: [], segment: [] };
  for (let k = 0; k < rounds; k++) {
    r.nvgre.push(encapDecap('nvgre', frames));
    r.vxlan.push(encapDecap('vxlan', frames));
    r.segment.push(segment(frames / 4));
    console.log(`round ${k + 1}: nvgre ${r.nvgre[k].toFixed(1)} ns/frame, vxlan ${r.vxlan[k].toFixed(1)} ns/frame (hash+encap+parse+strip), `
      + `segment ${r.segment[k].toFixed(1)} ns/segment`);
  }
  console.log(`median: nvgre ${median(r.nvgre).toFixed(1)} ns/frame, vxlan ${median(r.vxlan).toFixed(1)} ns/frame, segment ${median(r.segment).toFixed(1)} ns/segment (1448-byte TCP segments of a 64 KiB GSO frame)`);
}

main();
