/**
 * `xvs --help` fits 80 columns without cutting words: wrapped at word boundaries, every line at most
 * 80 characters when stdout is not a terminal (and the terminal's width, up to 100, when it is).
 * (That every time flag is in seconds is checked on every page in cli-conventions.test.ts.)
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { CLI } from '../src/test-support/daemon.js';

function help(...args: string[]): string {
  const r = spawnSync('node', [CLI, ...args, '--help'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`xvs ${args.join(' ')} --help: ${r.stderr}`);
  return r.stdout;
}

/** the text with line breaks and the indentation after them folded into one space */
const flat = (s: string): string => s.replace(/\s*\n\s*/g, ' ');

test('help is wrapped at word boundaries within 80 columns', (t) => {
  const pages: [string[], string[]][] = [
    [[], ['list, enable, disable, order, configure and describe extensions', 'trace a frame through the pipeline', 'show the running configuration, or apply one from a file (by diff)']],
    [['trace'], ['live: give up after this many seconds (exit status 1 if no frame matched)', 'print the raw JSON result (live: one JSON object per line, as each frame arrives)']],
    [['switch', 'create'], []],
    [['extension', 'set'], []],
    [['daemon'], []],
  ];
  for (const [args, phrases] of pages) {
    const out = help(...args);
    const long = out.split('\n').filter((l) => l.length > 80);
    t.deepEqual(long, [], `xvs ${args.join(' ')} --help: lines over 80 columns`);
    for (const p of phrases) t.true(flat(out).includes(p), `xvs ${args.join(' ')} --help: "${p}" is not cut inside a word`);
  }
});
