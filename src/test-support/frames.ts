/** Frame builders for tests (allocate freely: never on the data path). */
export function mac(s: string): number[] {
  return s.split(':').map((x) => parseInt(x, 16));
}

/** Ethernet/IPv4/UDP frame of `size` bytes (>= 42) from src to dst MAC. */
export function udpFrame(dst: string, src: string, size = 64, seq = 0): Uint8Array {
  const f = new Uint8Array(size);
  f.set(mac(dst), 0);
  f.set(mac(src), 6);
  f[12] = 0x08; f[13] = 0x00;
  f[14] = 0x45; f[16] = (size - 14) >> 8; f[17] = (size - 14) & 0xff; f[22] = 64; f[23] = 17;
  f.set([198, 18, 1, 1], 26); f.set([198, 18, 1, 2], 30);
  f[34] = 0x30; f[35] = 0x39; f[36] = 0x00; f[37] = 0x09;
  f[38] = (size - 34) >> 8; f[39] = (size - 34) & 0xff;
  if (size > 46) { f[42] = seq >> 24; f[43] = seq >> 16; f[44] = seq >> 8; f[45] = seq; }
  return f;
}

export function hex(s: string): Uint8Array {
  const c = s.replace(/[^0-9a-f]/gi, '');
  return Uint8Array.from(c.match(/../g) ?? [], (b) => parseInt(b, 16));
}
