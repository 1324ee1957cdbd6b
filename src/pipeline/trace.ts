/**
 * Packet trace: an observer of the engine that records, for the frames it watches, one step per
 * entry of the compiled stage array (so every stage of the stage list shows up, extension stages
 * once per extension) and a final `transmit` step. Used for synthetic frames (`xvs trace --packet`,
 * nothing learned or sent) and live ones (`xvs trace --live`).
 */
import type { Batch } from '../core/batch.js';
import { DstMode } from '../core/batch.js';
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
  }

  after(index: number, batch: Batch): void {
    if (this.watching === 0) return;
    const def = this.pipeline.stepDefs[index];
    const ext = this.pipeline.stepExt[index];
    for (let i = 0; i < batch.count; i++) {
      if (this.watch[i] !== 1) continue;
      const word = ext ? dropWordOf(ext.view, i) : undefined;
      this.steps[i].push(this.step(batch, i, ext ? ext.name : def.name, def.name, ext ? ext.kind : def.role === 'policy' ? 'policy' : 'builtin', def.path, word));
    }
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

  private step(batch: Batch, i: number, stage: string, group: string, kind: TraceStep['kind'], dir: TraceStep['direction'], word?: string): TraceStep {
    const r = batch.reason[i];
    const s: TraceStep = { stage, group, kind, direction: dir, verdict: r === 0 ? 'pass' : 'drop' };
    if (r !== 0) s.reason = word ? `${dropReasonName(r)}: ${word}` : dropReasonName(r);
    else if (batch.dstMode[i] !== DstMode.none) s.destinations = this.destinations(batch, i);
    return s;
  }
}
