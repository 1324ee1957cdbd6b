/**
 * Generates the method reference and the ranges of docs/CONTROL.md from the control API's method table
 * (METHODS in protocol.ts, METHOD_DOCS in method-docs.ts) and the validators' own range constants:
 *   node dist/src/control/gen-docs.js            rewrite the generated block of docs/CONTROL.md
 *   node dist/src/control/gen-docs.js --check    exit 1 if it is not up to date
 * Only the text between the BEGIN/END GENERATED markers is written; the prose around it is hand-written.
 */
import { fromRoot } from '../repo-root.js';
import { MAC_AGING_RANGE, MAC_TABLE_LIMIT_RANGE, PORT_MAC_LIMIT_RANGE, WORKERS_RANGE, DEFAULT_WORKERS } from '../config/schema.js';
import { FDB_PAGE_DEFAULT, FDB_PAGE_MAX } from '../forward/fdb-pages.js';
import { DEFAULT_MAC_AGING_SECONDS, DEFAULT_MAC_TABLE_LIMIT, IFNAMSIZ_MAX, MAX_PORTS_PER_SWITCH, PORT_QUEUES_RANGE } from '../config/types.js';
import { LIMITS, MAX_LINE_BYTES, METHODS, type MethodName } from './protocol.js';
import { METHOD_DOCS } from './method-docs.js';
import { DEFAULT_IDLE_SESSION_TIMEOUT, PORT_SETTING_RANGES as R } from '../config/port-settings.js';
import { MAX_ACLS_PER_PORT, MAX_EXTENDED_ACLS_PER_PORT } from '../policy/counters.js';
import { generatedFileMain } from '../generated-file.js';

export const BEGIN = '<!-- BEGIN GENERATED: methods and ranges (src/control/gen-docs.ts; edit the code, not this block) -->';
export const END = '<!-- END GENERATED -->';

export interface RangeRow {
  /** where the value goes */
  key: string;
  min: number;
  max: number;
  default?: number | string;
  unit?: string;
}

/** every range the control API and the config file enforce, from the constants the validators use */
export function ranges(): RangeRow[] {
  return [
    { key: 'switch `macAgingSeconds`', ...MAC_AGING_RANGE, default: DEFAULT_MAC_AGING_SECONDS, unit: 'seconds' },
    { key: 'switch `macTableLimit`', ...MAC_TABLE_LIMIT_RANGE, default: DEFAULT_MAC_TABLE_LIMIT, unit: 'entries' },
    { key: 'switch `macPortLimit`, port `macLimit`', ...PORT_MAC_LIMIT_RANGE, default: 'min(1024, macTableLimit / 2)', unit: 'entries' },
    { key: 'switch `workers`', ...WORKERS_RANGE, default: DEFAULT_WORKERS },
    { key: 'switch `ports[]`', min: 0, max: MAX_PORTS_PER_SWITCH, unit: 'ports' },
    { key: 'names (switch, port, netdev, uplink, host port)', min: 1, max: IFNAMSIZ_MAX, unit: 'characters' },
    { key: 'port `queues` (TAP ports; above 1 a multi-queue TAP)', ...PORT_QUEUES_RANGE, default: 1, unit: 'queue pairs' },
    { key: 'port `stormLimit`', ...R.stormLimit, default: '0 (no limit)', unit: 'frames/s' },
    { key: 'port `maximumBandwidth`', ...R.maximumBandwidth, default: '0 (no limit)', unit: 'bits/s' },
    { key: 'port `maximumBandwidthBurst`', ...R.maximumBandwidthBurst, unit: 'bytes' },
    { key: 'port `minimumBandwidthWeight`', ...R.minimumBandwidthWeight, default: '0 (none)' },
    { key: 'port `vlan` ids (access, PVLAN primary/secondary, lists)', ...R.vlanId },
    { key: 'port `vlan.nativeVlanId` (trunk)', ...R.nativeVlanId, default: 0 },
    { key: 'port `acls[]`', min: 0, max: MAX_ACLS_PER_PORT, unit: 'entries' },
    { key: 'port `extendedAcls[]`', min: 0, max: MAX_EXTENDED_ACLS_PER_PORT, unit: 'entries' },
    { key: 'extended ACL `weight`', ...R.weight },
    { key: 'extended ACL `idleSessionTimeout`', ...R.idleSessionTimeout, default: DEFAULT_IDLE_SESSION_TIMEOUT, unit: 'seconds' },
    { key: 'extended ACL `localPort`, `remotePort`', ...R.port },
    { key: '`trace` / `trace.start` `count`', min: LIMITS['trace.count'].min, max: LIMITS['trace.count'].max, default: LIMITS['trace.count'].default, unit: 'frames' },
    { key: '`trace` / `trace.start` `timeoutMs`', min: LIMITS['trace.timeoutMs'].min, max: LIMITS['trace.timeoutMs'].max, default: LIMITS['trace.timeoutMs'].default, unit: 'ms' },
    { key: 'live traces running at once', min: 0, max: LIMITS['trace.sessions'].max },
    { key: '`fdb.show` `limit`', min: 1, max: FDB_PAGE_MAX, default: FDB_PAGE_DEFAULT, unit: 'entries per page' },
    { key: 'request line', min: 1, max: MAX_LINE_BYTES, unit: 'bytes' },
  ];
}

function cell(s: string): string {
  return s.replaceAll('|', '\\|');
}

export function generateControlBlock(): string {
  const lines = [BEGIN, '', '### Methods', ''];
  lines.push(`${Object.keys(METHODS).length} methods. "changes" marks the methods that change the configuration (run one at a time per switch, persisted on success).`, '');
  lines.push('| method | changes | params | result | what |', '|---|---|---|---|---|');
  for (const m of Object.keys(METHODS) as MethodName[]) {
    const spec = METHODS[m];
    const doc = METHOD_DOCS[m];
    lines.push(`| \`${m}\` | ${spec.mutates ? 'yes' : ''} | ${cell(doc?.params ?? '(undocumented)')} | ${cell(doc?.result ?? '(undocumented)')} | ${cell(spec.summary)} |`);
  }
  lines.push('', '### Ranges and limits', '', 'Values outside these are refused with an error naming the field.', '');
  lines.push('| value | range | default |', '|---|---|---|');
  for (const r of ranges()) {
    const unit = r.unit ? ` ${r.unit}` : '';
    lines.push(`| ${r.key} | ${r.min}..${r.max}${unit} | ${r.default === undefined ? '—' : `${r.default}`} |`);
  }
  lines.push('', END);
  return lines.join('\n');
}

/** `doc` with its generated block replaced (throws if the markers are missing) */
export function withGeneratedBlock(doc: string): string {
  const a = doc.indexOf(BEGIN);
  const b = doc.indexOf(END);
  if (a < 0 || b < a) throw new Error('docs/CONTROL.md: the BEGIN/END GENERATED markers are missing');
  return doc.slice(0, a) + generateControlBlock() + doc.slice(b + END.length);
}

await generatedFileMain(import.meta.url, fromRoot('docs', 'CONTROL.md'), withGeneratedBlock);
