/**
 * HNV encapsulation: the outer header template (NVGRE, VXLAN, optional 802.1Q), encapsulate's
 * per-frame fields (lengths, IP id and checksum, GRE key / VNI and UDP source port, vnet offsets),
 * the inner flow hash, and Wireshark's reading of the result (tshark is the oracle of the format).
 */
import test from 'ava';
import { FramePool, HEADROOM } from '../../core/frame-pool.js';
import { inetChecksum, ipFrame, slotWithVnet, tsharkFields, vnetOf } from '../../test-support/hnv-frames.js';
import { TunnelInfo, TunnelParse, parseTunnel, stripOuter } from './decap.js';
import { buildOuterTemplate, encapsulate, flowHashIpv4, flowSeedIpv4, innerFlowHash, NVGRE_OVERHEAD, OuterWriter, overlayMtu, VXLAN_OVERHEAD, type OuterHeaderSpec } from './encap.js';

const SPEC: OuterHeaderSpec = { encap: 'nvgre', srcMac: '02:aa:00:00:00:01', dstMac: '02:bb:00:00:00:02', srcIp: '192.168.10.1', dstIp: '192.168.10.2' };
const u16 = (b: Uint8Array, o: number): number => (b[o] << 8) | b[o + 1];

test('overlay MTU: 1458 under NVGRE, 1450 under VXLAN on a 1500 underlay', (t) => {
  t.is(overlayMtu('nvgre', 1500), 1458);
  t.is(overlayMtu('vxlan', 1500), 1450);
});

test('templates: NVGRE 42 bytes (GRE 0x2000/0x6558, protocol 47), VXLAN 50 (UDP 4789, flags 0x08), +4 with a tag; DF, TTL 64', (t) => {
  const g = buildOuterTemplate(SPEC);
  t.is(g.bytes.length, NVGRE_OVERHEAD);
  t.deepEqual([...g.bytes.subarray(12, 14)], [0x08, 0x00]);
  t.is(g.bytes[14], 0x45);
  t.is(g.bytes[20], 0x40, 'DF');
  t.is(g.bytes[22], 64);
  t.is(g.bytes[23], 47);
  t.deepEqual([...g.bytes.subarray(26, 34)], [192, 168, 10, 1, 192, 168, 10, 2]);
  t.deepEqual([...g.bytes.subarray(34, 38)], [0x20, 0x00, 0x65, 0x58]);
  const v = buildOuterTemplate({ ...SPEC, encap: 'vxlan', vlanId: 300 });
  t.is(v.bytes.length, VXLAN_OVERHEAD + 4);
  t.deepEqual([...v.bytes.subarray(12, 18)], [0x81, 0x00, 0x01, 0x2c, 0x08, 0x00]);
  t.is(v.bytes[18 + 9], 17);
  t.is(u16(v.bytes, 38 + 2), 4789);
  t.is(v.bytes[38 + 8], 0x08);
  t.deepEqual([...v.bytes.subarray(38 + 9, 38 + 16)], [0, 0, 0, 0, 0, 0, 0]);
  t.throws(() => buildOuterTemplate({ ...SPEC, dstIp: 'fd00::1' }), { message: /dstIp: expected an IPv4 address \(IPv6 provider addresses are not supported\)/ });
  t.throws(() => buildOuterTemplate({ ...SPEC, srcMac: 'nope' }), { message: /srcMac: expected a MAC address/ });
  t.throws(() => buildOuterTemplate({ ...SPEC, vlanId: 4095 }), { message: /vlanId: expected 0..4094, got 4095/ });
});

test('encapsulate NVGRE: outer in the headroom, lengths, valid IP checksum, ids advance, key = VSID<<8 | flow byte; inner bytes untouched', (t) => {
  const pool = new FramePool(4, 4096);
  const inner = ipFrame({ payload: 100 });
  const id = pool.fromBytes(inner);
  const tpl = buildOuterTemplate(SPEC);
  t.true(encapsulate(pool, id, tpl, 0x123456, 0xabcdef77));
  t.is(pool.start[id], HEADROOM - 42);
  t.is(pool.len[id], inner.length + 42);
  const f = pool.toBytes(id);
  t.deepEqual([...f.subarray(42)], [...inner]);
  t.is(u16(f, 16), inner.length + 28, 'IP total length');
  t.is(inetChecksum(f, 14, 20, 0), 0, 'IP header checksum verifies');
  t.deepEqual([...f.subarray(38, 42)], [0x12, 0x34, 0x56, 0x77]);
  const id1 = u16(f, 18);
  const id2 = pool.fromBytes(inner);
  encapsulate(pool, id2, tpl, 0x123456, 0);
  const f2 = pool.toBytes(id2);
  t.is(u16(f2, 18), (id1 + 1) & 0xffff, 'the IP id is a counter');
  t.is(inetChecksum(f2, 14, 20, 0), 0);
});

test('encapsulate VXLAN with an outer tag: UDP length, source port in 49152..65535 from the hash, VNI, checksum 0; vnet offsets shift; pool.vlan cleared', (t) => {
  const pool = new FramePool(4, 4096);
  const inner = ipFrame({ payload: 200 });
  const id = slotWithVnet(pool, inner, { flags: 1, csumStart: 34, csumOffset: 16, hdrLen: 66 });
  pool.vlan[id] = 7;
  const tpl = buildOuterTemplate({ ...SPEC, encap: 'vxlan', vlanId: 12 });
  t.true(encapsulate(pool, id, tpl, 5001, 0x12345));
  const f = pool.toBytes(id);
  const udp = 18 + 20;
  t.is(u16(f, udp), 0xc000 | (0x12345 & 0x3fff));
  t.true(u16(f, udp) >= 49152);
  t.is(u16(f, udp + 4), inner.length + 16);
  t.is(u16(f, udp + 6), 0, 'UDP checksum 0');
  t.is((f[udp + 12] << 16) | (f[udp + 13] << 8) | f[udp + 14], 5001);
  t.is(f[udp + 15], 0);
  t.is(inetChecksum(f, 18, 20, 0), 0);
  t.is(pool.vlan[id], 0);
  const vn = vnetOf(pool, id);
  t.is(vn.csumStart, 34 + 54);
  t.is(vn.hdrLen, 66 + 54);
});

test('the outer header lands intact at every alignment of the frame start', (t) => {
  const pool = new FramePool(2, 4096);
  for (const spec of [SPEC, { ...SPEC, encap: 'vxlan' as const, vlanId: 5 }]) {
    const tpl = buildOuterTemplate(spec);
    for (let shift = 0; shift < 4; shift++) {
      const inner = ipFrame({ payload: 33 });
      const id = pool.fromBytes(inner);
      pool.bytes.copyWithin(pool.dataOffset(id) - shift, pool.dataOffset(id), pool.dataOffset(id) + inner.length);
      pool.start[id] -= shift;
      t.true(encapsulate(pool, id, tpl, 0, 0));
      const f = pool.toBytes(id);
      const fixed = (k: number): boolean => !(k >= tpl.ipOffset + 2 && k < tpl.ipOffset + 6) && !(k >= tpl.ipOffset + 10 && k < tpl.ipOffset + 12)
        && !(spec.encap === 'vxlan' && ((k >= tpl.l4Offset && k < tpl.l4Offset + 2) || (k >= tpl.l4Offset + 4 && k < tpl.l4Offset + 6)));
      for (let k = 0; k < tpl.bytes.length; k++) if (fixed(k) && f[k] !== tpl.bytes[k]) t.fail(`shift ${shift}: byte ${k}`);
      t.deepEqual([...f.subarray(tpl.bytes.length)], [...inner]);
      pool.release(id);
    }
  }
});

test('OuterWriter writes what encapsulate writes (NVGRE and VXLAN, tagged or not, every alignment, vnet offsets); refuses a slot without headroom', (t) => {
  const pool = new FramePool(4, 4096);
  const writer = new OuterWriter();
  for (const spec of [SPEC, { ...SPEC, vlanId: 7 }, { ...SPEC, encap: 'vxlan' as const }, { ...SPEC, encap: 'vxlan' as const, vlanId: 4094 }]) {
    const tpl = buildOuterTemplate(spec);
    for (let shift = 0; shift < 4; shift++) {
      for (const vsid of [4096, 0xabcdef, 16777214]) {
        const inner = ipFrame({ payload: 17 + shift, proto: 17, sport: 999 + shift });
        const ids = [0, 1].map(() => slotWithVnet(pool, inner, { flags: 1, hdrLen: 42, csumStart: 34, csumOffset: 6 }));
        for (const id of ids) { pool.bytes.copyWithin(pool.dataOffset(id) - shift, pool.dataOffset(id), pool.dataOffset(id) + inner.length); pool.start[id] -= shift; }
        const hash = innerFlowHash(pool, ids[0]);
        t.true(encapsulate(pool, ids[0], tpl, vsid, hash));
        t.true(writer.prepare(pool, tpl, vsid));
        t.true(writer.write(pool, ids[1], hash | 0));
        const [a, b] = ids.map((id) => pool.toBytes(id));
        // the IP identification counts frames (b is the next one): equal once it and the checksum are set aside
        t.is(u16(b, tpl.ipOffset + 4), (u16(a, tpl.ipOffset + 4) + 1) & 0xffff);
        t.is(inetChecksum(b, tpl.ipOffset, 20, 0), 0);
        for (const f of [a, b]) { f[tpl.ipOffset + 4] = 0; f[tpl.ipOffset + 5] = 0; f[tpl.ipOffset + 10] = 0; f[tpl.ipOffset + 11] = 0; }
        t.deepEqual([...b], [...a], `${spec.encap} vlan ${spec.vlanId ?? 0} shift ${shift} vsid ${vsid}`);
        t.deepEqual(vnetOf(pool, ids[1]), vnetOf(pool, ids[0]));
        t.is(pool.vlan[ids[1]], 0);
        for (const id of ids) pool.release(id);
      }
    }
  }
  const id = pool.fromBytes(ipFrame({ payload: 10 }));
  pool.start[id] = 40;
  t.true(writer.prepare(pool, buildOuterTemplate(SPEC), 5000));
  t.false(writer.write(pool, id, 0));
  t.is(pool.start[id], 40);
});

test('flowHashIpv4 from flowSeedIpv4 is innerFlowHash of an untagged IPv4 frame (TCP, UDP, SCTP, ICMP, fragments, options)', (t) => {
  const pool = new FramePool(2, 4096);
  let n = 0;
  for (const proto of [6, 17, 132, 1]) {
    for (const sport of [1, 80, 65535]) {
      const f = ipFrame({ payload: 20, proto: proto === 132 ? 17 : (proto as 6 | 17 | 1), sport });
      f[23] = proto;
      for (const frag of [0, 0x2000, 0x0001]) {
        f[20] = frag >> 8; f[21] = frag & 0xff;
        const id = pool.fromBytes(f);
        const off = pool.dataOffset(id);
        const seed = flowSeedIpv4((f[26] << 24) | (f[27] << 16) | (f[28] << 8) | f[29], (f[30] << 24) | (f[31] << 16) | (f[32] << 8) | f[33]);
        t.is(flowHashIpv4(seed, pool.bytes, off, f.length) >>> 0, innerFlowHash(pool, id));
        pool.release(id);
        n++;
      }
    }
  }
  t.is(n, 36);
});

test('encapsulate refuses a slot without headroom (nothing changed)', (t) => {
  const pool = new FramePool(2, 4096);
  const id = pool.fromBytes(ipFrame({ payload: 10 }));
  pool.start[id] = 40;
  t.false(encapsulate(pool, id, buildOuterTemplate(SPEC), 5000, 0));
  t.is(pool.start[id], 40);
});

test('inner flow hash: the same for every frame of a flow, varies with addresses and ports, IPv4 and IPv6', (t) => {
  const pool = new FramePool(8, 4096);
  const h = (f: Uint8Array): number => { const id = pool.fromBytes(f); const v = innerFlowHash(pool, id); pool.release(id); return v; };
  const a = h(ipFrame({ payload: 10, sport: 1000 }));
  t.is(h(ipFrame({ payload: 900, sport: 1000, seq: 5 })), a, 'payload and sequence do not matter');
  const seen = new Set<number>();
  for (let p = 0; p < 256; p++) seen.add(h(ipFrame({ payload: 10, sport: 1000 + p })) & 0xff);
  t.true(seen.size > 128, `FlowIDs of 256 flows spread over ${seen.size} values`);
  t.not(h(ipFrame({ payload: 10, v6: true, sport: 1 })), h(ipFrame({ payload: 10, v6: true, sport: 2 })));
  t.not(h(ipFrame({ payload: 10, dstIp: [10, 0, 0, 3] })), a);
});

test('encap then decap returns the original frame and vnet header (NVGRE and VXLAN, tagged)', (t) => {
  const pool = new FramePool(4, 4096);
  for (const spec of [SPEC, { ...SPEC, encap: 'vxlan' as const, vlanId: 99 }]) {
    const inner = ipFrame({ payload: 300, v6: true });
    const id = slotWithVnet(pool, inner, { flags: 1, csumStart: 54, csumOffset: 16, hdrLen: 86 });
    encapsulate(pool, id, buildOuterTemplate(spec), 70000, 0x55);
    // the receiver's view: the PA it owns is the template's destination
    const info = new TunnelInfo();
    t.is(parseTunnel(pool, id, Uint32Array.of(0xc0a80a02), 1, info), TunnelParse.ok);
    t.is(info.encap, spec.encap);
    t.is(info.vsid, 70000);
    t.is(info.flowId, spec.encap === 'nvgre' ? 0x55 : 0);
    t.is(info.outerSrc, 0xc0a80a01);
    t.is(info.outerVlan, spec.vlanId ?? 0);
    stripOuter(pool, id, info.outerLen, info.innerLen);
    t.deepEqual([...pool.toBytes(id)], [...inner]);
    t.deepEqual(vnetOf(pool, id), { flags: 1, gsoType: 0, hdrLen: 86, gsoSize: 0, csumStart: 54, csumOffset: 16 });
    pool.release(id);
  }
});

test('tshark reads our NVGRE and VXLAN frames: GRE key, VNI, UDP port, good IP checksum, the inner frame', (t) => {
  const pool = new FramePool(4, 4096);
  const frames: Uint8Array[] = [];
  for (const spec of [SPEC, { ...SPEC, encap: 'vxlan' as const }, { ...SPEC, vlanId: 42 }]) {
    const id = pool.fromBytes(ipFrame({ payload: 64, proto: 17, sport: 7777, dport: 53 }));
    encapsulate(pool, id, buildOuterTemplate(spec), 5001, 0x1234);
    frames.push(pool.toBytes(id));
    pool.release(id);
  }
  const rows = tsharkFields(frames, ['frame.protocols', 'gre.key', 'vxlan.vni', 'vxlan.flags', 'ip.checksum.status', 'ip.flags.df', 'ip.src', 'udp.srcport', 'udp.dstport', 'vlan.id']);
  t.log(rows.map((r) => r.join(' | ')).join('\n'));
  const [g, v, tagged] = rows;
  t.regex(g[0], /^eth:ethertype:ip:gre:eth:ethertype:ip:udp/);
  t.is(Number(g[1]), (5001 << 8) | 0x34, 'GRE key = VSID<<8 | FlowID');
  t.is(g[4].split(',')[0], '1', 'outer IP checksum good (status 1 = Good)');
  t.is(g[5].split(',')[0], '1', 'DF');
  t.is(g[6], '192.168.10.1,10.0.0.1');
  t.regex(v[0], /^eth:ethertype:ip:udp:vxlan:eth:ethertype:ip:udp/);
  t.is(v[2], '5001');
  t.is(Number(v[3]), 0x0800, 'VXLAN flags (the first 16 bits): only I');
  t.is(v[4].split(',')[0], '1');
  t.is(v[8].split(',')[0], '4789');
  t.true(Number(v[7].split(',')[0]) >= 49152);
  t.is(tagged[9], '42');
  t.is(Number(tagged[1]), (5001 << 8) | 0x34);
});

test('encap, flow hash, parse and strip allocate nothing per frame (2M frames, the heap stays flat)', (t) => {
  const pool = new FramePool(64, 2048);
  const ids = Array.from({ length: 64 }, (_, k) => pool.fromBytes(ipFrame({ payload: 500, sport: k })));
  const tpls = [buildOuterTemplate(SPEC), buildOuterTemplate({ ...SPEC, encap: 'vxlan', vlanId: 3 })];
  const pas = Uint32Array.of(0xc0a80a02);
  const info = new TunnelInfo();
  let ok = 0;
  const run = (n: number): void => {
    for (let k = 0; k < n; k++) {
      const id = ids[k & 63];
      encapsulate(pool, id, tpls[k & 1], 5000 + k, innerFlowHash(pool, id));
      if (parseTunnel(pool, id, pas, 1, info) === TunnelParse.ok) ok++;
      stripOuter(pool, id, info.outerLen, info.innerLen);
    }
  };
  run(200_000);
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = process.memoryUsage().heapUsed;
  run(2_000_000);
  gc?.();
  const after = process.memoryUsage().heapUsed;
  t.log(`heap delta ${after - before} bytes over 2M frames, gc exposed: ${gc !== undefined}`);
  t.true(after - before < 1_000_000, `heap grew by ${after - before} bytes`);
  t.is(ok, 2_200_000);
});
