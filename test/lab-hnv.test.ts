/**
 * The lab's HNV stage (src/lab/hnv.ts, `npm run lab -- hnv`) as CI runs it: two "hosts" (namespaces,
 * each with its own xvs daemon and an external switch on a veth into an underlay bridge), tenant red
 * over NVGRE and tenant blue over VXLAN with the same Customer Addresses and MACs, a QEMU VM per host
 * (when QEMU is installed) and namespace VMs for the rest. Asserts the reachability matrix equals the
 * tenant rule (each tenant reaches itself on both hosts, never the other tenant), with the echo
 * requests counted inside the target namespaces, and that no echo request reached a namespace of the
 * other tenant. Everything is removed in every outcome.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { repoRoot } from '../src/repo-root.js';
import { formatMatrix, startHnvLab, type HnvLab } from '../src/lab/hnv.js';
import { sh, testPrefix } from '../src/lab/netlab.js';
import { vmImagePaths } from '../src/lab/vm.js';

const P = testPrefix('hl');
const hasQemu = spawnSync('qemu-system-x86_64', ['--version'], { stdio: 'ignore' }).status === 0;
let lab: HnvLab | undefined;

test.after.always(async () => {
  await lab?.destroy();
});

test.serial('HNV lab: two tenants with the same CAs reach themselves across two hosts and never each other', async (t) => {
  if (hasQemu) {
    sh('bash', [path.join(repoRoot, 'scripts', 'vm-image.sh')], { timeout: 600_000 });
    vmImagePaths();
  }
  const run = mkdtempSync(path.join(tmpdir(), 'xthl-'));
  lab = await startHnvLab({ prefix: P, run, qemu: hasQemu, log: (l) => t.log(l) });
  const shown = formatMatrix(lab.endpoints, lab.matrix, lab.expected);
  t.log(`\n${shown}`);
  t.is(lab.endpoints.length, hasQemu ? 6 : 4);
  t.deepEqual(lab.matrix, lab.expected, shown);
  // the matrix has both kinds of cells: same-tenant pairs across the hosts, and cross-tenant pairs
  t.true(lab.expected.flat().includes(true) && lab.expected.flat().includes(false));
  t.is(lab.leaks, 0, 'echo requests counted in a namespace of the other tenant');
  for (const r of lab.rows) t.true(r.ok, `${r.check}: ${r.detail}`);
  for (const s of lab.shows) t.regex(s, /10\.78\.100\.[12]/, 'xvs hnv show lists the provider addresses');

  await lab.destroy();
  lab = undefined;
  const left = existsSync('/run/netns') ? readdirSync('/run/netns').filter((n) => n.startsWith(P)) : [];
  t.deepEqual(left, [], 'no namespace left');
  t.false(existsSync(run), 'run directory removed');
});
