/**
 * `xvs extension …` (list, enable, disable, order, set, describe, install, uninstall) and
 * `xvs pipeline show SWITCH`.
 */
import type { SwitchExtensionState } from '../switch/manager-api.js';
import { call, counts, out, printJson, table, withJson, type Cli } from './common.js';

function extTable(list: SwitchExtensionState[]): string {
  return table(
    ['#', 'NAME', 'KIND', 'VERSION', 'ENABLED', 'STATE', 'ON-ERROR', 'COUNTERS'],
    list.map((e, i) => [
      i + 1, e.name, e.kind, e.version, e.enabled,
      e.failure ? `FAILED${e.failure.reason ? ` (${e.failure.reason})` : ''} ${e.failure.at}: ${e.failure.error}` : e.running ? 'running' : '-',
      e.onError, counts(e.counters),
    ]),
  );
}

/** `key=value` pairs → an object; values that parse as JSON (numbers, booleans, lists, objects) are taken as such. */
export function parseKeyValues(pairs: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of pairs) {
    const k = p.indexOf('=');
    if (k <= 0) throw new Error(`expected key=value, got "${p}"`);
    const key = p.slice(0, k);
    const raw = p.slice(k + 1);
    let v: unknown = raw;
    try { v = JSON.parse(raw); } catch { /* a plain string */ }
    out[key] = v;
  }
  return out;
}

export function extensionCommands(y: Cli): Cli {
  return y
    .command('extension', 'list, enable, disable, order, configure and describe extensions', (ey) =>
      ey
        .command('list [switch]', "a switch's extensions in pipeline order (without a switch: what is installed)",
          (c) => withJson(c).positional('switch', { type: 'string' }),
          async (a) => {
            if (!a.switch) {
              const inst = await call(a, 'extension.installed', {});
              if (a.json) return printJson(inst);
              return out(table(['NAME', 'KIND', 'VERSION', 'SOURCE', 'SUMMARY'], inst.map((e) => [e.name, e.kind, e.version, e.source, e.summary])));
            }
            const list = await call(a, 'extension.list', { switch: a.switch });
            if (a.json) return printJson(list);
            out(extTable(list));
          })
        .command('enable <switch> <name>', 'enable an extension on a switch (applied between batches)',
          (c) => withJson(c).positional('switch', { type: 'string', demandOption: true }).positional('name', { type: 'string', demandOption: true }),
          async (a) => {
            const r = await call(a, 'extension.enable', { switch: a.switch, name: a.name });
            if (a.json) return printJson(r);
            out(`${r.kind} ${r.name} enabled on ${a.switch}`);
          })
        .command('disable <switch> <name>', 'disable an extension on a switch',
          (c) => withJson(c).positional('switch', { type: 'string', demandOption: true }).positional('name', { type: 'string', demandOption: true }),
          async (a) => {
            const r = await call(a, 'extension.disable', { switch: a.switch, name: a.name });
            if (a.json) return printJson(r);
            out(`${r.kind} ${r.name} disabled on ${a.switch}`);
          })
        .command('order <switch> <names..>', 'put these extensions first, in this order (per kind, ingress order; egress runs it in reverse)',
          (c) => withJson(c).positional('switch', { type: 'string', demandOption: true }).positional('names', { type: 'string', array: true, demandOption: true }),
          async (a) => {
            const r = await call(a, 'extension.order', { switch: a.switch, names: a.names.map(String) });
            if (a.json) return printJson(r);
            out(extTable(r));
          })
        .command('set <switch> <name> [pairs..]', 'configure an extension: key=value … (JSON values allowed), or --config JSON; --on-error bypass|drop',
          (c) => withJson(c)
            .positional('switch', { type: 'string', demandOption: true })
            .positional('name', { type: 'string', demandOption: true })
            .positional('pairs', { type: 'string', array: true, default: [] })
            .option('config', { type: 'string', describe: 'the whole configuration as a JSON object (replaces it)' })
            .option('on-error', { type: 'string', choices: ['bypass', 'drop'], describe: 'what happens to a batch when the extension throws' }),
          async (a) => {
            const pairs = (a.pairs ?? []).map(String);
            let config: Record<string, unknown> | undefined;
            if (a.config !== undefined) {
              try { config = JSON.parse(a.config) as Record<string, unknown>; } catch (e) { throw new Error(`--config: ${(e as Error).message}`); }
            }
            if (pairs.length) {
              const cur = (await call(a, 'extension.list', { switch: a.switch })).find((e) => e.name === a.name);
              config = { ...(config ?? cur?.config ?? {}), ...parseKeyValues(pairs) };
            }
            const onError = a['on-error'] as 'bypass' | 'drop' | undefined;
            const r = await call(a, 'extension.set', { switch: a.switch, name: a.name, ...(config ? { config } : {}), ...(onError ? { onError } : {}) });
            if (a.json) return printJson(r);
            out(`${r.name} on ${a.switch}: ${JSON.stringify(r.config)} (on-error ${r.onError})`);
          })
        .command('describe <name>', "an extension's documentation (generated from its doc block)",
          (c) => withJson(c).positional('name', { type: 'string', demandOption: true }),
          async (a) => {
            const r = await call(a, 'extension.describe', { name: a.name });
            if (a.json) return printJson(r);
            out(r.markdown);
          })
        .command('install <source>', 'install a third-party extension: a directory or manifest path, or an npm package name',
          (c) => withJson(c).positional('source', { type: 'string', demandOption: true }),
          async (a) => {
            const r = await call(a, 'extension.install', { source: a.source });
            if (a.json) return printJson(r);
            out(`installed ${r.kind} ${r.name} ${r.version} (disabled on every switch until enabled)`);
          })
        .command('uninstall <name>', 'uninstall a third-party extension (disable it everywhere first)',
          (c) => withJson(c).positional('name', { type: 'string', demandOption: true }),
          async (a) => {
            const r = await call(a, 'extension.uninstall', { name: a.name });
            if (a.json) return printJson(r);
            out(`uninstalled ${r.name}`);
          })
        .demandCommand(1, 'name an extension command: list, enable, disable, order, set, describe, install, uninstall'))
    .command('pipeline', "show a switch's data path", (py) =>
      py.command('show <switch>', 'the running order, ingress and egress, with the built-in stages in their places',
        (c) => withJson(c).positional('switch', { type: 'string', demandOption: true }),
        async (a) => {
          const p = await call(a, 'pipeline.show', { switch: a.switch });
          if (a.json) return printJson(p);
          const line = (s: (typeof p.stages)[number]): string => {
            const what = s.extensions ? (s.extensions.length ? s.extensions.join(', ') : '(none enabled)') : s.state === 'empty' ? '(empty)' : '';
            return `  ${s.path.padEnd(8)} ${s.stage.padEnd(17)} ${what}`;
          };
          out([
            `switch ${p.switch}, pipeline generation ${p.generation} (protocol edge → miniport edge → protocol edge)`,
            ...p.stages.map(line),
            ...p.failed.map((f) => `  failed   ${f.name}: ${f.error} (out of the pipeline)`),
          ].join('\n'));
        })
        .demandCommand(1, 'name a pipeline command: show'));
}
