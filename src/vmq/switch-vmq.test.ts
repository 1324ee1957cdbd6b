import test from 'ava';
import { CounterBlock } from '../core/counters.js';
import { SwitchVmq, type VmqHost } from './switch-vmq.js';

const host = (workers: number): VmqHost => ({
  name: 'sw', workers: () => Array.from({ length: workers }, () => ({ alive: false }) as never), counters: [new CounterBlock()],
  ports: () => [], settings: () => ({ weight: 0 }), spec: () => { throw new Error('no ports'); }, log: () => {},
});

test('XVS_CPUS overrides the switch configuration; worker i takes cpus[i mod n]; none: not pinned', async (t) => {
  const fromConfig = new SwitchVmq(host(3), [], [1, 0]);
  t.is(fromConfig.cpusFrom, 'config');
  t.deepEqual([0, 1, 2].map((w) => fromConfig.cpuOf(w)), [1, 0, 1]);
  const overridden = new SwitchVmq(host(2), [0], [1, 0]);
  t.is(overridden.cpusFrom, 'XVS_CPUS');
  t.deepEqual([0, 1].map((w) => overridden.cpuOf(w)), [0, 0]);
  await overridden.setCpus([1]); // kept in the configuration, XVS_CPUS still wins
  t.deepEqual(overridden.cpus, [0]);
  const none = new SwitchVmq(host(2), [], undefined);
  t.is(none.cpusFrom, 'none');
  t.is(none.cpuOf(1), null);
});
