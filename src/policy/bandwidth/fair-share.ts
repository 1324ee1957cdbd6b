/**
 * Weighted max-min fair shares (water-filling), work-conserving: `capacity` is divided among the
 * entities with a demand in proportion to their weights; an entity that wants less than its share
 * gets what it wants and the rest is divided among the others the same way; when every demand is
 * met the capacity left over is spread by weight too (nothing is held back for idle entities).
 * Entities with demand 0 or weight 0 get 0. Works in place on caller-owned typed arrays: no
 * allocation.
 */
export function weightedFairShare(
  n: number,
  weight: Float64Array,
  demand: Float64Array,
  capacity: number,
  out: Float64Array,
  done: Uint8Array,
): void {
  let remaining = capacity;
  let open = 0;
  let openWeight = 0;
  let activeWeight = 0;
  for (let i = 0; i < n; i++) {
    out[i] = 0;
    if (demand[i] > 0 && weight[i] > 0) {
      done[i] = 0;
      open++;
      openWeight += weight[i];
    } else done[i] = 1;
  }
  activeWeight = openWeight;
  if (open === 0) return;
  // satisfying an entity whose demand is below its share only raises the others' shares, so one
  // pass may satisfy several; repeat until a pass satisfies none
  let changed = true;
  while (changed && open > 0) {
    changed = false;
    for (let i = 0; i < n; i++) {
      if (done[i] !== 0) continue;
      if (demand[i] <= (remaining * weight[i]) / openWeight) {
        out[i] = demand[i];
        remaining -= demand[i];
        openWeight -= weight[i];
        done[i] = 1;
        open--;
        changed = true;
      }
    }
  }
  if (open > 0) {
    for (let i = 0; i < n; i++) if (done[i] === 0) out[i] = (remaining * weight[i]) / openWeight;
    return;
  }
  // every demand met: the rest goes to the active entities by weight (work conservation)
  if (remaining > 0) {
    for (let i = 0; i < n; i++) if (demand[i] > 0 && weight[i] > 0) out[i] += (remaining * weight[i]) / activeWeight;
  }
}
