/**
 * Packet trace: an observer of the engine that records, for the frames it watches, one step per
 * entry of the compiled stage array (so every stage of the stage list shows up, extension stages
 * once per extension) and a final `transmit` step. Used for synthetic frames (`xvs trace --packet`,
 * nothing learned or sent) and live ones (`xvs trace --live`).
 */
import type { Batch } from '../core/batch.js';
import { DST_WORDS, DstMode } from '../core/batch.js';
import { dropReasonName } from '../core/drop-reasons.js';
import type { StageObserver } from '../core/engine.js';
import { MAX_PORTS_PER_SWITCH } from '../config/types.js';
import type { ExtensionPipeline, TraceStep } from './pipeline.js';
import { STAGE_LIST } from './stage-list.js';
import { bindView, dropWordOf, type ReaderView } from './views.js';

const TRANSMIT = STAGE_LIST[STAGE_LIST.length - 1];

export interface TraceSelection {
  /** mark the frames of a starting batch to record (watch[i] = 1) */
  select(batch: Batch, watch: Uint8Array): void;
  /** a watched frame left the switch (after transmit); its steps are complete */
  finished(batch: Batch, i: number, steps: TraceStep[]): void;
}

export class PipelineTracer implements StageObserver {
  readonly watch: Uint8Array;
  private readonly steps: TraceStep[][];
  private readonly scratch = new Int32Array(MAX_PORTS_PER_SWITCH);
  private watching = 0;

  constructor(
    capacity: number,
    private readonly pipeline: ExtensionPipeline,
    private readonly probe: ReaderView,
    private readonly selection: TraceSelection,
  ) {
    this.watch = new Uint8Array(capacity);
    this.steps = Array.from({ length: capacity }, () => []);
  }

  begin(batch: Batch): void {
    this.watch.fill(0, 0, batch.count);
    this.selection.select(batch, this.watch);
    this.watching = 0;
    for (let i = 0; i < batch.count; i++) {
      if (this.watch[i] !== 1) continue;
      this.steps[i] = [];
      this.watching++;
    }
    this.pipeline.tracing = this.watching > 0;
    const notes = this.pipeline.policies.notes;
    notes.on = this.watching > 0;
    if (notes.on) notes.clear(batch.count);
  }

  after(index: number, batch: Batch): void {
    if (this.watching === 0) return;
    const def = this.pipeline.stepDefs[index];
    const ext = this.pipeline.stepExt[index];
    const notes = def.role === 'policy' ? this.pipeline.policies.notes : null;
    for (let i = 0; i < batch.count; i++) {
      if (this.watch[i] !== 1) continue;
      const word = ext ? dropWordOf(ext.view, i) : notes !== null ? notes.words[i] : undefined;
      const step = this.step(batch, i, ext ? ext.name : def.name, def.name, ext ? ext.kind : def.role === 'policy' ? 'policy' : 'builtin', def.path, word);
      // a policy that excluded a destination without dropping the frame says which entry did
      if (notes !== null && word !== undefined && step.verdict === 'pass') step.note = word;
      this.steps[i].push(step);
    }
    if (notes !== null) notes.clear(batch.count);
  }

  transmitted(batch: Batch): void {
    if (this.watching === 0) return;
    for (let i = 0; i < batch.count; i++) {
      if (this.watch[i] !== 1) continue;
      this.watch[i] = 0;
      this.selection.finished(batch, i, this.recordTransmit(batch, i));
    }
    this.watching = 0;
    this.pipeline.tracing = false;
    this.pipeline.policies.notes.on = false;
  }

  /** the steps of frame i with the final transmit step (synthetic traces, which never transmit) */
  recordTransmit(batch: Batch, i: number): TraceStep[] {
    const steps = this.steps[i];
    steps.push(this.step(batch, i, TRANSMIT.name, TRANSMIT.name, 'builtin', TRANSMIT.path));
    this.steps[i] = [];
    return steps;
  }

  /** destination port indices of frame i as the transmit stage sees them (excluded and down ports left out) */
  destinations(batch: Batch, i: number): number[] {
    bindView(this.probe, batch, 'egress');
    const n = this.probe.destinations(i, this.scratch);
    return Array.from(this.scratch.subarray(0, n));
  }

  /** ports frame i was sent to (unicast or a set) that get nothing because their link is down */
  private downPorts(batch: Batch, i: number): number[] {
    const mode = batch.dstMode[i];
    const chosen: number[] = [];
    if (mode === DstMode.unicast) chosen.push(batch.dstPort[i]);
    else if (mode === DstMode.set) {
      for (let p = 0; p < MAX_PORTS_PER_SWITCH; p++) if ((batch.dstSet[i * DST_WORDS + (p >>> 5)] & (1 << (p & 31))) !== 0) chosen.push(p);
    }
    // a chosen port that is neither excluded nor a destination (the probe is bound by destinations()) is down
    return chosen.filter((p) => p >= 0 && p < MAX_PORTS_PER_SWITCH && !(batch.hasExclusions && batch.isExcluded(i, p)) && !this.probe.hasDestination(i, p));
  }

  private step(batch: Batch, i: number, stage: string, group: string, kind: TraceStep['kind'], dir: TraceStep['direction'], word?: string): TraceStep {
    const r = batch.reason[i];
    const s: TraceStep = { stage, group, kind, direction: dir, verdict: r === 0 ? 'pass' : 'drop' };
    if (r !== 0) s.reason = word ? `${dropReasonName(r)}: ${word}` : dropReasonName(r);
    else if (batch.dstMode[i] !== DstMode.none) {
      s.destinations = this.destinations(batch, i);
      if (batch.dstMode[i] !== DstMode.flood) {
        const down = this.downPorts(batch, i);
        if (down.length > 0) s.down = down;
      }
    }
    return s;
  }
}

/** A trace as the control API shows it (ports by name), for explainTrace. */
export interface TraceForExplain {
  steps: { stage: string; kind: string; direction: string; verdict: string; reason?: string; note?: string; destinations?: string[]; down?: string[] }[];
  verdict: 'forwarded' | 'dropped';
  reason?: string;
  destinations: string[];
}

function who(s: { kind: string; stage: string }): string {
  if (s.kind === 'builtin') return `stage ${s.stage}`;
  return `${s.kind} ${s.stage}`;
}

/**
 * The verdict line of a trace, naming the stage and reason that decided it:
 * `dropped by filter firewall: rule 0 (extension-drop)`, `dropped by stage validate: runt`,
 * `dropped: destination vm2 is link-down (chosen by forward learning)`, `forwarded to vm1, vm2`.
 */
export function explainTrace(t: TraceForExplain): string {
  const dropper = t.steps.find((s) => s.verdict === 'drop');
  if (dropper) {
    const r = dropper.reason ?? t.reason ?? 'dropped';
    const cut = r.indexOf(': ');
    const text = cut < 0 ? r : `${r.slice(cut + 2)} (${r.slice(0, cut)})`;
    // a built-in policy names its entry: "dropped by port ACL vm1 outbound deny 10.0.0.0/8 (port-acl, at ingress-policies)"
    if (dropper.kind === 'policy' && cut >= 0) return `dropped by ${r.slice(cut + 2)} (${r.slice(0, cut)}, at ${dropper.stage})`;
    return `dropped by ${who(dropper)} (${dropper.direction}): ${text}`;
  }
  const withDest = t.steps.filter((s) => s.destinations !== undefined && s.stage !== 'transmit');
  const last = withDest[withDest.length - 1];
  const down = last?.down ?? [];
  if (t.verdict === 'forwarded') {
    const also = down.length > 0 ? `; not to ${down.join(', ')}: link down` : '';
    return `forwarded to ${t.destinations.join(', ')}${also}`;
  }
  if (down.length > 0) {
    const chooser = withDest.find((s) => (s.down ?? []).length > 0);
    const ports = down.length === 1 ? `destination ${down[0]} is` : `destinations ${down.join(', ')} are`;
    return `dropped: ${ports} link-down (a port whose link is down gets no frames; chosen by ${chooser ? who(chooser) : 'forwarding'})`;
  }
  // a stage that took away the last destination
  for (let k = 1; k < withDest.length; k++) {
    if ((withDest[k - 1].destinations ?? []).length > 0 && (withDest[k].destinations ?? []).length === 0) {
      const why = withDest[k].note !== undefined ? `: ${withDest[k].note}` : '';
      return `dropped: ${who(withDest[k])} (${withDest[k].direction}) removed the last destination (${(withDest[k - 1].destinations ?? []).join(', ')})${why}`;
    }
  }
  if (withDest.length === 0) return `dropped: no stage chose a destination (${t.reason ?? 'no-destination'})`;
  return `dropped: ${t.reason ?? 'no destination'}`;
}
