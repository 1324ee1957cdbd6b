/** `xvs fdb show SWITCH`: the learned MAC addresses. */
import { call, out, printJson, table, withJson, type Cli } from './common.js';

export function fdbCommands(y: Cli): Cli {
  return y.command('fdb', "show a switch's MAC table", (fy) =>
    fy
      .command(
        'show <switch>',
        'show the learned MAC addresses',
        (c) => withJson(c).positional('switch', { type: 'string', demandOption: true }),
        async (a) => {
          const entries = await call(a, 'fdb.show', { switch: a.switch });
          if (a.json) return printJson(entries);
          out(table(['MAC', 'PORT', 'AGE'], entries.map((e) => [e.mac, e.port, e.ageSeconds])));
        },
      )
      .demandCommand(1, 'name an fdb command: show'),
  );
}
