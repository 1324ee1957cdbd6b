#!/usr/bin/env node
/**
 * `xvs`: the command-line client of the xvs daemon (and, with `xvs daemon`, the daemon itself).
 * One file per command group; errors print `xvs: <message>` on stderr and exit 1.
 */
import { createRequire } from 'node:module';
import type { Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { globalOptions } from './common.js';
import { daemonCommands } from './daemon.js';
import { fdbCommands } from './fdb.js';
import { portCommands } from './port.js';
import { aclCommands } from './acl.js';
import { statsCommands } from './stats.js';
import { switchCommands } from './switch.js';
import { extensionCommands } from './extension.js';
import { traceCommands } from './trace.js';
import { configCommands } from './config.js';
import { hnvCommands } from './hnv.js';
import { vmqCommands } from './vmq.js';
import { sriovCommands } from './sriov.js';
import { versionLine } from '../service/version.js';
import { withExamples } from './examples.js';
import { topCommands } from './top.js';

/**
 * yargs through its CommonJS entry: the ESM build's cliui wraps help text every N characters, cutting
 * words in half ("describe exten|sions" at 80 columns); the CommonJS build wraps at word boundaries.
 */
const yargs = createRequire(import.meta.url)('yargs') as (args: string[]) => Argv;

/** help width: the terminal's (at most 100), 80 when not a terminal */
const HELP_WIDTH = Math.min(100, process.stdout.columns || 80);

class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

async function main(): Promise<void> {
  // `xvs help port set` is `xvs port set --help` (the command below only lists it in the help)
  const args = hideBin(process.argv);
  if (args[0] === 'help') args.push(...args.splice(0, args.length).slice(1), '--help');
  let cli = withExamples(globalOptions(yargs(args).scriptName('xvs')));
  for (const add of [daemonCommands, switchCommands, portCommands, aclCommands, fdbCommands, statsCommands, extensionCommands, traceCommands, configCommands, hnvCommands, sriovCommands, vmqCommands, topCommands]) cli = add(cli);
  cli = cli
    .strict()
    .recommendCommands()
    .command('help [command..]', 'show the help of a command, with examples: xvs help port set', (c) => c.positional('command', { type: 'string', array: true, describe: 'the command' }))
    // the hidden built-in answers the script's --get-yargs-completions; `completion [shell]` prints the script
    .completion('__completion', false)
    .command('completion [shell]', 'print the shell completion script (bash): xvs completion bash > /etc/bash_completion.d/xvs',
      (c) => c.positional('shell', { type: 'string', choices: ['bash'], default: 'bash', describe: 'the shell' })
        .example('xvs completion bash > /etc/bash_completion.d/xvs', 'complete xvs commands and options in every new bash'),
      () => { cli.showCompletionScript(); })
    .demandCommand(1, 'name a command (see xvs --help)')
    .version(versionLine())
    .help()
    .alias('h', 'help')
    .wrap(HELP_WIDTH)
    .fail((msg, err) => {
      throw err ?? new UsageError(msg);
    });
  try {
    await cli.parseAsync();
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    process.stderr.write(`xvs: ${msg}\n`);
    if (e instanceof UsageError) process.stderr.write('run "xvs --help" for usage\n');
    process.exitCode = 1;
  }
}

void main();
