/**
 * `xvs fdb show SWITCH`: the learned MAC addresses. The daemon answers in pages (`fdb.show` with
 * `after`, forward/fdb-pages.ts); the CLI walks them and writes each as it arrives, so a table of a
 * million entries never makes one huge reply. `--json` still prints one JSON array.
 */
import type { FdbEntry } from '../switch/manager-api.js';
import { call, intOption, out, printJson, table, withJson, type Cli } from './common.js';

/** write and wait while stdout's buffer is full (a million lines into a slow pipe) */
function write(text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (process.stdout.write(text, (e) => { if (e) reject(e); })) resolve();
    else process.stdout.once('drain', resolve);
  });
}

const row = (e: FdbEntry): string => `${String(e.vlan ?? 0).padStart(4)}  ${e.mac}  ${e.port.padEnd(15)}  ${String(e.ageSeconds).padStart(7)}\n`;

export function fdbCommands(y: Cli): Cli {
  return y.command('fdb', "show a switch's MAC table", (fy) =>
    fy
      .command(
        'show <switch>',
        'show the learned MAC addresses (in MAC order)',
        (c) =>
          withJson(c)
            .positional('switch', { type: 'string', demandOption: true })
            .option('page-size', { type: 'number', describe: 'entries per request to the daemon (1..10000, default 5000)' }),
        async (a) => {
          const limit = intOption('page-size', a.pageSize);
          const page = (after?: string) => call(a, 'fdb.show', {
            switch: a.switch, ...(limit !== undefined ? { limit } : {}), ...(after !== undefined ? { after } : {}),
          });
          let p = await page();
          if (p.next === null) {
            // one page: as before, an aligned table or one pretty-printed array
            if (a.json) return printJson(p.entries);
            // the VLAN column once the table has an entry on a VLAN (a VLAN-aware switch)
            if (p.entries.some((e) => e.vlan !== undefined)) {
              return out(table(['VLAN', 'MAC', 'PORT', 'AGE'], p.entries.map((e) => [e.vlan ?? 0, e.mac, e.port, e.ageSeconds])));
            }
            return out(table(['MAC', 'PORT', 'AGE'], p.entries.map((e) => [e.mac, e.port, e.ageSeconds])));
          }
          // several pages: stream them (fixed columns: a port name has at most 15 characters)
          let first = true;
          await write(a.json ? '[\n' : `${'VLAN'}  ${'MAC'.padEnd(17)}  ${'PORT'.padEnd(15)}  ${'AGE'.padStart(7)}\n`);
          for (;;) {
            const text = a.json
              ? p.entries.map((e) => { const s = `${first ? '' : ',\n'}  ${JSON.stringify(e)}`; first = false; return s; }).join('')
              : p.entries.map(row).join('');
            await write(text);
            if (p.next === null) break;
            p = await page(p.next);
          }
          if (a.json) await write('\n]\n');
        },
      )
      .demandCommand(1, 'name an fdb command: show'),
  );
}
