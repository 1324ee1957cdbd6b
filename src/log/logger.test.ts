import test from 'ava';
import { createLogger, parseLogLevel } from './logger.js';

const at = () => new Date('2026-12-06T10:00:00.000Z');

test('text lines carry time and level; levels below the threshold are dropped', (t) => {
  const lines: string[] = [];
  const log = createLogger({ level: 'warn', format: 'text', write: (l) => lines.push(l), now: at });
  log('plain info');
  log.debug('debug');
  log.warn('careful');
  log.error('broken');
  t.deepEqual(lines, ['2026-12-06T10:00:00.000Z warn  careful\n', '2026-12-06T10:00:00.000Z error broken\n']);
});

test('journal format uses sd-daemon priorities; json format is one object per line; newlines cannot forge entries', (t) => {
  const j: string[] = [];
  const jl = createLogger({ format: 'journal', write: (l) => j.push(l) });
  jl('hello');
  jl.error('bad\nfake entry');
  t.deepEqual(j, ['<6>hello\n', '<3>bad ⏎ fake entry\n']);
  const o: string[] = [];
  createLogger({ format: 'json', write: (l) => o.push(l), now: at }).warn('w');
  t.deepEqual(JSON.parse(o[0]!), { time: '2026-12-06T10:00:00.000Z', level: 'warn', msg: 'w' });
});

test('a bad level is refused with the field named', (t) => {
  t.throws(() => parseLogLevel('loud'), { message: 'log-level: expected one of error, warn, info, debug, got "loud"' });
});
