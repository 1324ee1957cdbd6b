/**
 * The README's "First ten minutes" is what scripts/first-ten-minutes.sh runs: the script works (ping,
 * the ACL drop counted and traced, the ping back after the ACL goes), cleans up after itself, and the
 * `$ …` commands of the README's block are the script's, in the same order.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fromRoot } from '../src/repo-root.js';

test('the first-ten-minutes script runs as the README shows and removes what it made', (t) => {
  const dir = '/tmp/xvs-first-test';
  const r = spawnSync('bash', [fromRoot('scripts', 'first-ten-minutes.sh'), dir], { encoding: 'utf8', timeout: 180_000 });
  t.is(r.status, 0, r.stdout + r.stderr);
  const out = r.stdout;
  t.regex(out, /daemon ready/);
  t.regex(out, /3 packets transmitted, 3 received/, 'ping through the switch');
  t.regex(out, /02:00:00:00:00:01 +vm1/, 'MAC table');
  t.regex(out, /3 packets transmitted, 0 received/, 'the ACL drops');
  t.regex(out, /vm1 .* port-acl=3/, 'counted by reason');
  t.regex(out, /verdict: dropped by port ACL vm2 inbound deny 192\.168\.77\.1\/32 \(port-acl, at egress-policies\)/);
  t.regex(out, /1 packets transmitted, 1 received/, 'the ACL removed, ping again');
  t.regex(out, /"name": "xf0"/);
  // cleaned up: no namespace, veth or directory left
  t.notRegex(spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout, /xf-vm/);
  t.false(existsSync('/sys/class/net/xf1') || existsSync('/sys/class/net/xf2'));
  t.false(existsSync(dir));

  const readme = readFileSync(fromRoot('README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## First ten minutes'), readme.indexOf('## Using it'));
  const commands = (text: string): string[] => [...text.matchAll(/^ *\$ (.*)$/gm)].map((m) => m[1]!.trim());
  t.deepEqual(commands(section), commands(out).map((c) => c.replace(/--packet (eth\(.*\))$/, "--packet '$1'")));
});
