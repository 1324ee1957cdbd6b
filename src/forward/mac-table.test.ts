/**
 * The shared MAC table's per-port limits (issue 9 item 11) and the fdb pages over it (item 7), on the
 * real table and the real SwitchFdb a forwarder uses; the 1 M-entry walk is in fdb-pages.test.ts.
 */
import test from 'ava';
import { Worker } from 'node:worker_threads';
import { CounterBlock, PF, SW } from '../core/counters.js';
import type { BreathContext } from '../core/stage.js';
import { SwitchFdb } from './fdb.js';
import { defaultPortMacLimit, portMacLimit, uplinkMacLimit } from './mac-limits.js';
import { LearnResult, MacTable, NO_PORT_LIMIT } from './mac-table.js';

const HI = (i: number): number => (0x80000000 | 0x0200 | ((i >>> 24) & 0xff)) | 0;
const LO = (i: number): number => (i * 2654435761) | 0;

test('a port at its limit learns no new MAC; other ports still learn; the table counts per port', (t) => {
  const table = new MacTable(8192);
  table.setPortLimit(0, 100);
  let hits = 0;
  for (let i = 0; i < 200_000; i++) if (table.learn(HI(i), LO(i), 0, 1) === LearnResult.portLimit) hits++;
  t.is(table.portCount(0), 100);
  t.is(table.count, 100);
  t.is(hits, 200_000 - 100);
  // the flood left room: two real hosts on other ports are learned and found
  t.is(table.learn(HI(1 << 30), 7, 1, 1), LearnResult.learned);
  t.is(table.learn(HI(1 << 30), 8, 2, 1), LearnResult.learned);
  t.is(table.lookup(HI(1 << 30), 7), 1);
  t.is(table.lookup(HI(1 << 30), 8), 2);
  t.is(table.portCount(1), 1);
  t.is(table.portLimit(3), NO_PORT_LIMIT, 'a port with no limit set has none');
  // an already learned MAC is refreshed at the limit
  t.is(table.learn(HI(0), LO(0), 0, 2), LearnResult.refreshed);
});

test('without a port limit the same flood fills the table and the hosts are never learned (the bug)', (t) => {
  const table = new MacTable(8192);
  for (let i = 0; i < 200_000; i++) table.learn(HI(i), LO(i), 0, 1);
  t.is(table.count, 8192);
  t.is(table.learn(HI(1 << 30), 7, 1, 1), LearnResult.limit);
  t.is(table.lookup(HI(1 << 30), 7), -1);
});

test('moves keep the counts; a move onto a full port forgets the entry', (t) => {
  const table = new MacTable(1024);
  table.setPortLimit(1, 1);
  t.is(table.learn(HI(1), 1, 0, 1), LearnResult.learned);
  t.is(table.learn(HI(1), 1, 1, 1), LearnResult.moved);
  t.is(table.portCount(0), 0);
  t.is(table.portCount(1), 1);
  t.is(table.learn(HI(2), 2, 0, 1), LearnResult.learned);
  // port 1 is full: MAC 2 moving there is forgotten, not left pointing at port 0
  const seq = table.seq();
  t.is(table.learn(HI(2), 2, 1, 1), LearnResult.portLimit);
  t.is(table.seq(), seq, 'no entry shifted: no sequence window for a killed worker to leave open');
  t.is(table.lookup(HI(2), 2), -1);
  t.is(table.portCount(0), 0);
  t.is(table.portCount(1), 1);
  t.is(table.entries().length, 1, 'fdb show leaves the forgotten MAC out');
  t.is(table.learn(HI(2), 2, 1, 2), LearnResult.portLimit, 'still full: still refused');
  // it ages out like any entry, or is learned again where there is room
  t.is(table.learn(HI(2), 2, 0, 3), LearnResult.learned);
  t.is(table.lookup(HI(2), 2), 0);
  t.is(table.portCount(0), 1);
});

test('aging and port flushes give the counts back; a lowered limit removes nothing', (t) => {
  const table = new MacTable(1024);
  table.setPortLimit(0, 10);
  for (let i = 0; i < 10; i++) table.learn(HI(i), LO(i), 0, i < 5 ? 1 : 100);
  t.is(table.learn(HI(99), LO(99), 0, 100), LearnResult.portLimit);
  t.is(table.age(301, 300), 5);
  t.is(table.portCount(0), 5);
  t.is(table.learn(HI(99), LO(99), 0, 301), LearnResult.learned, 'room again after aging');
  table.setPortLimit(0, 2);
  t.is(table.portCount(0), 6, 'entries above a lowered limit stay until they age');
  t.is(table.learn(HI(98), LO(98), 0, 301), LearnResult.portLimit);
  t.is(table.flushPort(0), 6);
  t.is(table.portCount(0), 0);
});

test('aging recounts: a count left wrong (a worker killed mid-insert) is right again within 60 passes', (t) => {
  const table = new MacTable(1024);
  for (let i = 0; i < 5; i++) table.learn(HI(i), LO(i), 3, 100);
  // simulate the half-done update: the count slot of port 3 lost its increments
  const raw = new Int32Array(table.buffer);
  raw[16 + 3] = 0;
  raw[2] = 0;
  for (let i = 0; i < 60; i++) table.age(100, 300);
  t.is(table.portCount(3), 5);
  t.is(table.count, 5);
});

test('SwitchFdb counts port-limit hits on the port, table-full hits on the switch', (t) => {
  const table = new MacTable(4);
  table.setPortLimit(1, 2);
  const counters = new CounterBlock();
  const breath = { now: 1, counters } as unknown as BreathContext;
  const fdb = new SwitchFdb(table, breath);
  for (let i = 0; i < 5; i++) fdb.learn(0x0200, i, 1);
  t.is(counters.v[CounterBlock.port(1) + PF.macLimitHits], 3);
  t.is(counters.v[SW.fdbLearned], 2);
  for (let i = 0; i < 5; i++) fdb.learn(0x0200, 100 + i, 2);
  t.is(counters.v[SW.fdbLimitHits], 3, 'the table (limit 4) was full for 3 of port 2\'s MACs');
});

test('the per-port count is one count across threads (two workers flood one port at once)', async (t) => {
  const table = new MacTable(65536);
  table.setPortLimit(0, 1000);
  const src = `
    const { workerData } = require('node:worker_threads');
    const t = new Int32Array(workerData.buffer);
    // the learn path of MacTable, driven through its module
    import(workerData.url).then(({ MacTable }) => {
      const m = new MacTable(workerData.buffer);
      for (let i = 0; i < 20000; i++) m.learn((0x80000000 | 0x0200 | workerData.w) | 0, i, 0, 1);
      require('node:worker_threads').parentPort.postMessage(t.length);
    });`;
  const url = new URL('./mac-table.js', import.meta.url).href;
  const run = (w: number): Promise<void> => new Promise((resolve, reject) => {
    const wk = new Worker(src, { eval: true, workerData: { buffer: table.buffer, url, w } });
    wk.once('message', () => { void wk.terminate(); resolve(); });
    wk.once('error', reject);
  });
  await Promise.all([run(1), run(2)]);
  t.is(table.portCount(0), 1000);
  t.is(table.count, 1000);
});

test('default limits: a flood on one port leaves room for the others', (t) => {
  t.is(defaultPortMacLimit({ macTableLimit: 8192 }), 1024);
  t.is(defaultPortMacLimit({ macTableLimit: 16 }), 8);
  t.is(defaultPortMacLimit({ macTableLimit: 1 }), 1);
  t.is(uplinkMacLimit({ macTableLimit: 8192 }), 4096);
  t.is(portMacLimit({ macTableLimit: 8192, macPortLimit: 64 }, 'vm'), 64);
  t.is(portMacLimit({ macTableLimit: 8192, macPortLimit: 64 }, 'vm', 5), 5);
  t.is(portMacLimit({ macTableLimit: 8192 }, 'external'), 4096);
  t.is(portMacLimit({ macTableLimit: 8192 }, 'internal'), 1024);
});

test('a table on an existing buffer (a worker\'s view) sees the same counts and limits', (t) => {
  const a = new MacTable(1024);
  a.setPortLimit(7, 3);
  const b = new MacTable(a.buffer);
  t.is(b.capacity, a.capacity);
  for (let i = 0; i < 5; i++) b.learn(HI(i), LO(i), 7, 1);
  t.is(a.portCount(7), 3);
  t.is(a.portLimit(7), 3);
});
