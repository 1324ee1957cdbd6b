/**
 * VLAN id lists as Hyper-V writes them (Set-VMNetworkAdapterVlan -AllowedVlanIdList / -SecondaryVlanIdList):
 * single ids and ranges separated by commas, "1-100,200". Ids are 1..4094 (0 and 4095 are reserved by 802.1Q).
 * Note Microsoft's PVLAN example "200-201" is a range: 200 and 201 (REFERENCE rule 10).
 */
import { ConfigError } from '../core/errors.js';

export const VLAN_ID_MIN = 1;
export const VLAN_ID_MAX = 4094;

/**
 * The ids of a list, sorted and without duplicates. Throws ConfigError naming `path` (e.g.
 * `vlan.allowedVlanIds: 5000 is not a VLAN id (expected 1..4094) in "1-100,5000"`).
 */
export function parseVlanList(s: string, path = 'vlan list'): number[] {
  const bad = (why: string): never => {
    throw new ConfigError(path, `${why} in "${s}" (expected VLAN ids ${VLAN_ID_MIN}..${VLAN_ID_MAX} and ranges, e.g. "1-100,200")`);
  };
  if (s.trim() === '') bad('no VLAN id');
  const seen = new Uint8Array(VLAN_ID_MAX + 1);
  for (const raw of s.split(',')) {
    const part = raw.trim();
    const m = /^(\d{1,5})(?:\s*-\s*(\d{1,5}))?$/.exec(part);
    if (!m) bad(`"${part}" is not an id or a range`);
    const lo = Number(m![1]);
    const hi = m![2] === undefined ? lo : Number(m![2]);
    for (const id of [lo, hi]) if (id < VLAN_ID_MIN || id > VLAN_ID_MAX) bad(`${id} is not a VLAN id`);
    if (hi < lo) bad(`the range "${part}" is backwards`);
    seen.fill(1, lo, hi + 1);
  }
  const out: number[] = [];
  for (let id = VLAN_ID_MIN; id <= VLAN_ID_MAX; id++) if (seen[id]) out.push(id);
  return out;
}

/** The canonical text of a set of ids: sorted, ranges joined ("1-100,200"); "" for none. */
export function formatVlanList(ids: Iterable<number>): string {
  const sorted = [...new Set(ids)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    parts.push(j === i ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}
