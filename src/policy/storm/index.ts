/**
 * Storm limit (Set-VMNetworkAdapter -StormLimit): the broadcast, multicast and unknown-unicast
 * frames a VM port may send per second. At the miniport edge (destinations known): a frame counts
 * when its destination MAC has the group bit (broadcast, multicast) or the forwarder flooded it
 * (unknown unicast). Windows of one second follow the breath clock (`ctx.now`, whole seconds); the
 * frames beyond the limit in that second are dropped (reason storm-limit) and counted in the port's
 * stormExcess. 0 or absent = no limit.
 *
 * State is per worker: a port's receive ring (AF_PACKET/TAP) is served by one worker, so all its
 * frames pass through one instance. Frames an extension originates (no source port) are not
 * limited.
 */
import { MAX_PORTS_PER_SWITCH } from '../../config/types.js';
import { DstMode, type Batch } from '../../core/batch.js';
import { DropReason } from '../../core/drop-reasons.js';
import type { FramePool } from '../../core/frame-pool.js';
import type { BreathContext } from '../../core/stage.js';
import type { PolicyHook } from '../../pipeline/policies.js';
import { PolicyCounters, PPF } from '../counters.js';
import type { PolicyEnv, PolicyModule, PolicyModuleInstance, PolicyPlacement, SwitchPolicyInput } from '../runtime.js';

const STORM_LIMIT = DropReason['storm-limit'];

/** the limit a port's settings ask for (VM ports; 0 = none) */
function stormLimitOf(kind: string, limit: number | undefined): number {
  if (kind !== 'vm' || limit === undefined || !(limit > 0)) return 0;
  if (!Number.isInteger(limit)) throw new Error(`stormLimit: expected a whole number of packets per second, got ${limit}`);
  return limit;
}

class StormState {
  /** frames per second allowed, 0 = unlimited */
  readonly limit = new Float64Array(MAX_PORTS_PER_SWITCH);
  /** the second the count belongs to */
  readonly second = new Float64Array(MAX_PORTS_PER_SWITCH);
  /** storm frames seen in that second */
  readonly count = new Float64Array(MAX_PORTS_PER_SWITCH);
  readonly names: (string | undefined)[] = new Array<string | undefined>(MAX_PORTS_PER_SWITCH).fill(undefined);
  ports = 0;

  build(input: SwitchPolicyInput): void {
    const limits = input.ports.map((p) => {
      try {
        return stormLimitOf(p.kind, p.settings.stormLimit);
      } catch (e) {
        throw new Error(`${p.name}.${(e as Error).message}`);
      }
    });
    this.limit.fill(0);
    this.ports = 0;
    input.ports.forEach((p, k) => {
      if (this.names[p.index] !== p.name) { this.count[p.index] = 0; this.second[p.index] = 0; }
      this.names[p.index] = p.name;
      this.limit[p.index] = limits[k];
      if (limits[k] > 0) this.ports++;
    });
  }
}

class StormHook implements PolicyHook {
  readonly name = 'storm-limit';
  readonly #state: StormState;
  readonly #env: PolicyEnv;

  constructor(state: StormState, env: PolicyEnv) {
    this.#state = state;
    this.#env = env;
  }

  appliesTo(batch: Batch): boolean {
    const p = batch.inPort;
    return p >= 0 && p < MAX_PORTS_PER_SWITCH && this.#state.limit[p] > 0;
  }

  process(batch: Batch, pool: FramePool, ctx: BreathContext): void {
    const st = this.#state;
    const p = batch.inPort;
    const limit = st.limit[p];
    const now = Math.floor(ctx.now);
    if (st.second[p] !== now) { st.second[p] = now; st.count[p] = 0; }
    let count = st.count[p];
    const b = pool.bytes;
    const ids = batch.ids;
    const pc = this.#env.policyCounters.v;
    const excessSlot = PolicyCounters.port(p) + PPF.stormExcess;
    for (let i = 0; i < batch.count; i++) {
      if (batch.reason[i] !== 0 || batch.dstMode[i] === DstMode.none) continue;
      const group = (b[pool.dataOffset(ids[i])] & 1) !== 0;
      if (!group && batch.dstMode[i] !== DstMode.flood) continue;
      if (++count <= limit) continue;
      batch.drop(i, STORM_LIMIT);
      if (!this.#env.trace.synthetic) pc[excessSlot]++;
      if (this.#env.trace.on) this.#env.trace.note(i, `storm limit ${st.names[p]}: more than ${limit} broadcast, multicast and unknown-unicast frames in this second`);
    }
    if (!this.#env.trace.synthetic) st.count[p] = count; // a synthetic trace frame is judged, not counted
  }
}

class StormPolicy implements PolicyModuleInstance {
  readonly #state = new StormState();
  readonly #placements: PolicyPlacement[];

  constructor(env: PolicyEnv) {
    this.#placements = [{ stage: 'miniport', hook: new StormHook(this.#state, env) }];
  }

  configure(input: SwitchPolicyInput): PolicyPlacement[] {
    this.#state.build(input);
    return this.#state.ports > 0 ? this.#placements : [];
  }
}

export const stormPolicy: PolicyModule = {
  name: 'storm',
  stages: ['miniport'],
  summary(input: SwitchPolicyInput): string[] {
    return input.ports
      .filter((p) => p.kind === 'vm' && (p.settings.stormLimit ?? 0) > 0)
      .map((p) => `${p.name}: storm limit ${p.settings.stormLimit} broadcast/multicast/unknown-unicast frames per second`);
  },
  create(env: PolicyEnv): PolicyModuleInstance {
    return new StormPolicy(env);
  },
};
