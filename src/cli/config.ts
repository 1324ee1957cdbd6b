/** `xvs config show|apply`: the running desired state as one document, and applying one by diff. */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../core/errors.js';
import { DaemonError } from '../control/client.js';
import { call, out, printJson, withJson, type Cli } from './common.js';

/** `params.config.switches[0].type: …` → `FILE: switches[0].type: …` (the field as it is in the file). */
function inFile(file: string, e: unknown): unknown {
  if (e instanceof DaemonError && e.field?.startsWith('params.config')) {
    const rest = e.message.replace(/^params\.config\.?/, '');
    return new ConfigError('', `${file}: ${rest}`);
  }
  return e;
}

export function configCommands(y: Cli): Cli {
  return y.command('config', 'show the running configuration, or apply one from a file (by diff)', (cy) =>
    cy
      .command(
        'show',
        'print the running desired state (switches, ports, extensions, plug-ins) as a config document',
        (c) => withJson(c),
        async (a) => {
          // the document is JSON either way; --json is accepted like on every read command
          printJson(await call(a, 'config.show', {}));
        },
      )
      .command(
        'apply <file>',
        'make the running state equal FILE: only the difference is applied; the same file twice changes nothing',
        (c) =>
          withJson(c)
            .positional('file', { type: 'string', demandOption: true, describe: 'a config document (as "xvs config show" prints)' })
            .option('dry-run', { type: 'boolean', default: false, describe: 'print the changes, apply nothing' }),
        async (a) => {
          let doc: unknown;
          try {
            doc = JSON.parse(readFileSync(a.file, 'utf8'));
          } catch (e) {
            throw new Error(`${a.file}: ${e instanceof Error ? e.message : String(e)}`);
          }
          let r;
          try {
            r = await call(a, 'config.apply', { config: doc, ...(a.dryRun ? { dryRun: true } : {}) });
          } catch (e) {
            throw inFile(a.file, e);
          }
          if (a.json) return printJson(r);
          if (r.changes.length === 0) return out(r.dryRun ? 'no changes' : 'no changes (already applied)');
          out(`${r.dryRun ? 'would apply' : 'applied'} ${r.changes.length} change${r.changes.length === 1 ? '' : 's'}:\n${r.text}`);
        },
      )
      .demandCommand(1, 'name a config command: show, apply'),
  );
}
