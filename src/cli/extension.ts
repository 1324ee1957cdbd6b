/**
 * `xvs extension …` (list, enable, disable, order, set, describe, install, uninstall) and
 * `xvs pipeline show SWITCH`.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
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

/**
 * What `extension install SOURCE` sends the daemon: a path (one that exists here, or one written as
 * a path: absolute, `./x`, `../x`, `a/b`) resolved against this process's working directory and
 * normalised — the daemon's working directory is not the caller's — else the npm package name as given.
 */
export function installSource(source: string, cwd = process.cwd()): string {
  const scoped = /^@[^/\\]+\/[^/\\]+$/.test(source);
  const looksLikePath = path.isAbsolute(source) || source === '.' || source === '..' || /^\.\.?[\\/]/.test(source) || (!scoped && /[\\/]/.test(source));
  const abs = path.resolve(cwd, source);
  if (looksLikePath || existsSync(abs)) return abs;
  return source;
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
              return out(table(['NAME', 'KIND', 'VERSION', 'SOURCE', 'TRUST', 'SUMMARY'],
                inst.map((e) => [e.name, e.kind, e.version, e.source, e.source === 'builtin' ? '-' : e.allowUntrusted ? 'untrusted allowed' : 'root-only', e.summary])));
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
            const origin = r.info.source === 'builtin' ? '' : `Installed from ${r.info.source}${r.info.allowUntrusted
              ? ' with --allow-untrusted: users other than root may be able to change its code (a warning is logged at every load).'
              : ' (files writable by root only).'}\n\n`;
            out(origin + r.markdown);
          })
        .command('install <source>', 'install a third-party extension: a directory or manifest path (relative to here), or an npm package name; its files must be writable by root only',
          (c) => withJson(c).positional('source', { type: 'string', demandOption: true })
            .option('allow-untrusted', { type: 'boolean', default: false, describe: 'accept files or parent directories writable by users other than root (they can then run code as root); recorded, warned at every load' }),
          async (a) => {
            const allowUntrusted = a['allow-untrusted'] === true;
            const r = await call(a, 'extension.install', { source: installSource(a.source), ...(allowUntrusted ? { allowUntrusted } : {}) });
            if (a.json) return printJson(r);
            out(`installed ${r.kind} ${r.name} ${r.version} (disabled on every switch until enabled)`);
            if (r.allowUntrusted) out(`warning: ${r.name} was installed with --allow-untrusted: users other than root can change code that runs as root; this is recorded and logged at every load`);
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
            const head = `  ${s.path.padEnd(8)} ${s.stage.padEnd(17)} ${what}`;
            const pol = (s.policies ?? []).flatMap((q) => q.ports.map((l) => `${' '.repeat(29)}${q.policy}: ${l}`));
            return [head, ...pol].join('\n');
          };
          out([
            `switch ${p.switch}, pipeline generation ${p.generation} (protocol edge → miniport edge → protocol edge)`,
            ...p.stages.map(line),
            ...p.failed.map((f) => `  failed   ${f.name}: ${f.error} (out of the pipeline)`),
          ].join('\n'));
        })
        .demandCommand(1, 'name a pipeline command: show'));
}
