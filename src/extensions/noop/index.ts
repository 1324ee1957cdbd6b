/**
 * filter `noop`: passes every frame unchanged. It exists to measure what an extension in the
 * pipeline costs (docs/BENCHMARKS.md) and as the smallest possible filter.
 */
import { defineFilter } from '../api.js';

export default defineFilter({
  name: 'noop',
  version: '1.0.0',
  kind: 'filter',
  doc: {
    synopsis: 'noop',
    summary: 'Passes every frame unchanged; for measuring the cost of an extension stage.',
    description: 'Looks at the batch (it reads the frame count) and does nothing else on both paths.',
    path: 'both (ingress and egress)',
    notes: 'Enable several to measure per-stage overhead: `xvs extension enable SW noop` (one instance per switch).',
    seeAlso: 'docs/BENCHMARKS.md',
  },
  config: {},
  counters: { seen: 'frames the hook was called with' },
  create(_config, ctx) {
    const seen = ctx.counterIndex('seen');
    return {
      ingress(view) { ctx.counters[seen] += view.count; },
      egress() { /* nothing */ },
    };
  },
});
