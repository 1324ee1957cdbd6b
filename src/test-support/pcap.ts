/** A classic libpcap file of Ethernet frames, for handing frames to tshark in tests. */
import { writeFileSync } from 'node:fs';

export function writeClassicPcap(file: string, frames: Uint8Array[], firstSecond = 1_700_000_000): void {
  const parts: Buffer[] = [];
  const gh = Buffer.alloc(24);
  gh.writeUInt32LE(0xa1b2c3d4, 0); gh.writeUInt16LE(2, 4); gh.writeUInt16LE(4, 6);
  gh.writeUInt32LE(65535, 16); gh.writeUInt32LE(1, 20); // snaplen, LINKTYPE_ETHERNET
  parts.push(gh);
  frames.forEach((f, k) => {
    const rh = Buffer.alloc(16);
    rh.writeUInt32LE(firstSecond + k, 0); rh.writeUInt32LE(f.length, 8); rh.writeUInt32LE(f.length, 12);
    parts.push(rh, Buffer.from(f));
  });
  writeFileSync(file, Buffer.concat(parts));
}
