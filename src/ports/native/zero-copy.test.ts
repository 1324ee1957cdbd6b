/**
 * Zero-copy forwarding in the native edge (SPEC.md "Zero-copy forwarding"), against real veths (root):
 *   npx tsc -p . && npx ava dist/src/ports/native/zero-copy.test.js
 *
 * Devices and namespaces are named `xzc<pid><suffix>`; leftovers of dead runs are removed at start.
 */
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { native } from './index.js';
import { FramePool } from '../../core/frame-pool.js';
import { AfPacketPort, ZERO_COPY_HDR } from '../afpacket.js';
import { namespacePair, removeStale, run, tcpThroughPump, veth as vethPair } from '../../test-support/native-lab.js';

const P = `xzc${process.pid}`;

removeStale('xzc', process.pid);
const veth = (t: ExecutionContext, a: string, b: string, mtu = 9000): void => vethPair(t, a, b, mtu);

const UDP_PORT = 7777;
/** an Ethernet/IPv4/UDP frame of `size` bytes with random payload; `seq` in the first payload bytes */
function udpFrame(size: number, seq: number): Uint8Array {
  const f = new Uint8Array(randomBytes(size));
  f.set([0x02, 0, 0, 0, 0, 0xbb, 0x02, 0, 0, 0, 0, 0xaa, 0x08, 0x00], 0);
  const ip = size - 14;
  f.set([0x45, 0, ip >> 8, ip & 0xff, 0, 0, 0, 0, 64, 17, 0, 0, 10, 9, 0, 1, 10, 9, 0, 2], 14);
  const udp = ip - 20;
  f.set([0x30, 0x39, UDP_PORT >> 8, UDP_PORT & 0xff, udp >> 8, udp & 0xff, 0, 0], 34);
  f[42] = seq >> 8; f[43] = seq & 0xff;
  return f;
}
const seqOf = (f: Uint8Array): number => (f[42] << 8) | f[43];
const isOurs = (f: Uint8Array): boolean => f.length > 44 && f[12] === 0x08 && f[13] === 0 && f[23] === 17 && ((f[36] << 8) | f[37]) === UDP_PORT;

/** tx-only raw port on `dev` that sends frames built in a scratch pool */
function injector(dev: string): { send(frames: Uint8Array[]): number; close(): void } {
  const h = native.openPort(dev, { rx: false, ringFrames: 0, frameSize: 0, vnetHdr: false });
  const pool = new FramePool(64, 16384);
  const ids = new Uint32Array(64);
  return {
    send(frames) {
      let sent = 0;
      for (let k = 0; k < frames.length; k += 64) {
        const chunk = frames.slice(k, k + 64);
        chunk.forEach((f, i) => { ids[i] = pool.fromBytes(f); });
        sent += native.sendBatch(h, pool.bytes, pool.slotSize, ids, 0, chunk.length, pool.start, pool.len);
        for (let i = 0; i < chunk.length; i++) pool.release(ids[i]);
      }
      return sent;
    },
    close() { native.closePort(h); },
  };
}

/** plain (copying) receiver on `dev`: returns our frames by sequence number */
function collector(dev: string): { collect(want: number, ms?: number): Map<number, Uint8Array>; close(): void } {
  const port = new AfPacketPort(dev, { rx: true, ringFrames: 64, vnetHdr: false });
  const pool = new FramePool(128, 16384);
  const out = new Uint32Array(64);
  const fds = new Int32Array([port.fd]);
  return {
    collect(want, ms = 2000) {
      const got = new Map<number, Uint8Array>();
      const end = Date.now() + ms;
      while (got.size < want && Date.now() < end) {
        native.pollIn(fds, 1, 20);
        const n = port.recv(pool, out, out.length);
        for (let i = 0; i < n; i++) {
          const f = pool.toBytes(out[i]);
          if (isOurs(f)) got.set(seqOf(f), f);
          pool.release(out[i]);
        }
      }
      return got;
    },
    close() { port.close(); },
  };
}

const eq = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && Buffer.from(a).equals(Buffer.from(b));

/** two veth pairs: frames injected at `${P}b` arrive at the zero-copy port on `${P}a`; what it sends on `${P}c` is read at `${P}d` */
function rig(t: ExecutionContext, ringFrames = 64): { zc: AfPacketPort; out: AfPacketPort; inj: ReturnType<typeof injector>; col: ReturnType<typeof collector> } {
  veth(t, `${P}a`, `${P}b`); veth(t, `${P}c`, `${P}d`);
  const zc = new AfPacketPort(`${P}a`, { rx: true, ringFrames, vnetHdr: true, hdrCopy: ZERO_COPY_HDR });
  const out = new AfPacketPort(`${P}c`, { rx: false, vnetHdr: true });
  const inj = injector(`${P}b`);
  const col = collector(`${P}d`);
  t.teardown(() => { zc.close(); out.close(); inj.close(); col.close(); });
  return { zc, out, inj, col };
}

/** receive from port until `want` frames came (polling), without recvDone */
function receive(port: AfPacketPort, pool: FramePool, ids: Uint32Array, want: number): number {
  const fds = new Int32Array([port.fd]);
  let n = 0;
  const end = Date.now() + 2000;
  while (n < want && Date.now() < end) {
    native.pollIn(fds, 1, 20);
    n += port.recv(pool, ids.subarray(n), want - n);
  }
  return n;
}

test.serial('long IPv4 frames keep their tail in the ring, go out byte-exact, and the ring frames go back at recvDone', (t) => {
  const { zc, out, inj, col } = rig(t);
  const pool = new FramePool(128);
  const frames = [1024, 1500, 4000, 8000].map((s, i) => udpFrame(s, i));
  t.is(inj.send(frames), frames.length);
  const ids = new Uint32Array(64);
  t.is(receive(zc, pool, ids, frames.length), frames.length);
  for (let i = 0; i < frames.length; i++) {
    const id = ids[i];
    t.is(pool.len[id], frames[i].length);
    t.is(pool.resident(id), ZERO_COPY_HDR, 'only the headers are in the slot');
    t.is(pool.zc[id * 4], frames[i].length - ZERO_COPY_HDR);
    const o = pool.dataOffset(id);
    t.true(eq(pool.bytes.subarray(o, o + ZERO_COPY_HDR), frames[i].subarray(0, ZERO_COPY_HDR)));
  }
  t.is(out.send(pool, ids, frames.length), frames.length);
  zc.rxDone(pool);
  // nothing was alive any more at recvDone? the frames still are (not released): they get made whole
  for (let i = 0; i < frames.length; i++) {
    t.is(pool.zc[ids[i] * 4], 0);
    t.true(eq(pool.toBytes(ids[i]), frames[i]), 'made whole at the end of the batch');
    pool.release(ids[i]);
  }
  const got = col.collect(frames.length);
  t.is(got.size, frames.length);
  for (let i = 0; i < frames.length; i++) t.true(eq(got.get(i) ?? new Uint8Array(0), frames[i]), `frame ${i} (${frames[i].length} bytes) byte-exact`);
  const s = zc.stats();
  t.is(s.zeroCopy, frames.length);
  t.is(s.zeroCopyMaterialized, frames.length);
  // the ring frames went back: the socket is not readable any more (a held frame keeps poll() ready)
  t.is(native.pollIn(new Int32Array([zc.fd]), 1, 0), 0);
});

test.serial('small frames and header layouts it does not know are copied whole', (t) => {
  const { zc, inj } = rig(t);
  const pool = new FramePool(128);
  const small = udpFrame(1000, 1);                           // shorter than 1024
  const other = udpFrame(3000, 2); other[12] = 0x88; other[13] = 0xb5; // not IP
  const ext = udpFrame(3000, 3);                             // IPv6 with a hop-by-hop header
  ext[12] = 0x86; ext[13] = 0xdd; ext[14] = 0x60; ext[20] = 0;
  const plain = udpFrame(3000, 4);
  const frames = [small, other, ext, plain];
  t.is(inj.send(frames), 4);
  const ids = new Uint32Array(8);
  t.is(receive(zc, pool, ids, 4), 4);
  const tails = Array.from(ids.subarray(0, 4), (id) => pool.zc[id * 4]);
  t.deepEqual(tails, [0, 0, 0, 3000 - ZERO_COPY_HDR]);
  for (let i = 0; i < 3; i++) t.true(eq(pool.toBytes(ids[i]), frames[i]));
  // whole(): the one rule for code that reads past the headers
  const id = ids[3];
  pool.whole(id);
  t.is(pool.zc[id * 4], 0);
  t.is(pool.resident(id), 3000);
  t.true(eq(pool.toBytes(id), plain));
  zc.rxDone(pool);
  const s = zc.stats();
  t.is(s.zeroCopy, 1);
  t.is(s.zeroCopyMaterialized, 0, 'already whole: nothing left to copy at recvDone');
  for (let i = 0; i < 4; i++) pool.release(ids[i]);
});

test.serial('a frame kept past its batch stays intact while the ring goes round several times', (t) => {
  const { zc, out, inj, col } = rig(t, 16);
  const pool = new FramePool(256);
  const keep = udpFrame(6000, 0);
  t.is(inj.send([keep]), 1);
  const ids = new Uint32Array(64);
  t.is(receive(zc, pool, ids, 1), 1);
  const kept = ids[0];
  t.true(pool.zc[kept * 4] > 0);
  zc.rxDone(pool);                                         // the batch ends with the frame still alive (a queue holds it)
  t.is(pool.zc[kept * 4], 0);
  // 5 rounds of a 16-frame ring, each batch released after its recv
  for (let r = 0; r < 5; r++) {
    const burst = Array.from({ length: 16 }, (_, k) => udpFrame(6000, 100 + r * 16 + k));
    t.is(inj.send(burst), 16);
    const n = receive(zc, pool, ids, 16);
    t.is(n, 16);
    zc.rxDone(pool);
    for (let i = 0; i < n; i++) pool.release(ids[i]);
  }
  ids[0] = kept;
  t.is(out.send(pool, ids, 1), 1);
  const got = col.collect(1);
  t.true(eq(got.get(0) ?? new Uint8Array(0), keep), 'the held frame arrives as it was received');
  t.true(eq(pool.toBytes(kept), keep));
  const s = zc.stats();
  t.is(s.kernelDrops, 0);
  t.is(s.zeroCopy, 81);
});

test.serial('a batch whose recvDone never came is ended by the next recvBatch: the ring never wedges', (t) => {
  const { zc, inj } = rig(t, 16);
  const pool = new FramePool(256);
  const ids = new Uint32Array(64);
  let received = 0;
  // half the 16-frame ring stays held between calls: the other half takes each burst
  for (let r = 0; r < 6; r++) {
    t.is(inj.send(Array.from({ length: 8 }, (_, k) => udpFrame(3000, r * 8 + k))), 8);
    const n = receive(zc, pool, ids, 8);      // no rxDone: a stage threw, say
    received += n;
    // the frames that lived on are made whole before their ring frames go back
    for (let i = 0; i < n; i++) pool.release(ids[i]);
  }
  t.is(received, 48);
  const s = zc.stats();
  t.is(s.kernelDrops, 0);
});

test.serial('with veth offloads on, a TCP flow forwarded zero-copy between two ports is byte-exact (GSO frames sent from the ring)', async (t) => {
  const { na, nb, ha, hb } = namespacePair(t, P, '10.231.9');
  t.regex(run('ip', 'netns', 'exec', na, 'ethtool', '-k', 'eth1'), /tcp-segmentation-offload: on/);

  const pool = new FramePool(512);
  const pa = new AfPacketPort(ha, { rx: true, ringFrames: 128, hdrCopy: ZERO_COPY_HDR });
  const pb = new AfPacketPort(hb, { rx: true, ringFrames: 128, hdrCopy: ZERO_COPY_HDR });
  t.teardown(() => { pa.close(); pb.close(); });

  const ids = new Uint32Array(256);
  const fds = new Int32Array([pa.fd, pb.fd]);
  let zcFrames = 0, maxLen = 0, txFail = 0;
  await tcpThroughPump(t, na, nb, '10.231.9.2', 32 << 20, async (finished) => {
    while (!finished()) {
      native.pollIn(fds, 2, 1);
      for (const [from, to] of [[pa, pb], [pb, pa]] as const) {
        const n = from.recv(pool, ids, ids.length);
        for (let i = 0; i < n; i++) {
          if (pool.zc[ids[i] * 4] !== 0) zcFrames++;
          if (pool.len[ids[i]] > maxLen) maxLen = pool.len[ids[i]];
        }
        txFail += n - to.send(pool, ids, n);
        from.rxDone(pool);
        for (let i = 0; i < n; i++) pool.release(ids[i]);
      }
      await new Promise((r) => setImmediate(r));
    }
  });
  t.log(`${zcFrames} frames zero-copy, max ${maxLen} bytes, ${txFail} tx failures`);
  t.true(maxLen > 1514, 'GSO frames crossed');
  t.true(zcFrames > 0);
  t.is(pool.inUse, 0);
});
