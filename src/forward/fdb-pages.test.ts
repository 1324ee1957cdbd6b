/**
 * `fdb.show` pages (issue 9 item 7): a switch configured for a million MACs (macTableLimit 1048576, the
 * largest the config allows) with a million learned entries is walked page by page, every reply
 * well under the 1 MiB line limit, every entry exactly once, in MAC order. The entries are learned
 * through the table's own learn path (the one the data path uses); the daemon + CLI walk over real
 * traffic is test/fdb-show.test.ts.
 */
import test from 'ava';
import { MAC_TABLE_LIMIT_RANGE } from '../config/schema.js';
import { MAX_LINE_BYTES } from '../control/protocol.js';
import { FDB_PAGE_MAX, FdbPager, parseCursor } from './fdb-pages.js';
import { MacTable } from './mac-table.js';

const N = 1_000_000;

test('a million entries: every page under 1 MiB, each entry once, in MAC order', (t) => {
  const table = new MacTable(MAC_TABLE_LIMIT_RANGE.max);
  t.true(table.limit >= N, `the configurable capacity holds a million (limit ${table.limit})`);
  for (let i = 0; i < N; i++) {
    // spread over the MAC space: first two bytes vary too
    const mac = (i * 2654435761) % 0xffffffffffff;
    const hi = (0x80000000 | (Math.floor(mac / 4294967296) & 0xfeff)) | 0; // group bit clear
    table.learn(hi, mac | 0, i % 200, 1000);
  }
  const count = table.count;
  t.true(count >= N - 10, `learned ${count}`);
  const pager = new FdbPager(table);
  let after: string | undefined;
  let seen = 0;
  let pages = 0;
  let biggest = 0;
  let prev = '';
  let ordered = true;
  const macs = new Set<string>();
  for (;;) {
    const p = pager.page({ limit: FDB_PAGE_MAX, ...(after !== undefined ? { after } : {}) }, (i) => `port${i}`, 1005);
    biggest = Math.max(biggest, Buffer.byteLength(JSON.stringify({ id: 1, ok: true, result: p })));
    for (const e of p.entries) {
      if (e.mac <= prev) ordered = false;
      prev = e.mac;
      macs.add(e.mac);
    }
    seen += p.entries.length;
    pages++;
    t.is(p.total, count);
    if (p.next === null) break;
    after = p.next;
  }
  t.is(seen, count);
  t.is(macs.size, count, 'no entry twice');
  t.true(ordered, 'in MAC order');
  t.is(pages, Math.ceil(count / FDB_PAGE_MAX));
  t.true(biggest < MAX_LINE_BYTES, `largest reply ${biggest} bytes`);
  t.is(pager.held, 0, 'a finished walk frees its snapshot');
  t.log(`${count} entries, ${pages} pages, largest reply ${biggest} bytes`);
});

test('a walk whose snapshot is gone goes on after the cursor\'s MAC; bad cursors name the field', (t) => {
  const table = new MacTable(1024);
  for (let i = 1; i <= 10; i++) table.learn((0x80000000 | 0x0200) | 0, i, 0, 1);
  const pager = new FdbPager(table);
  const name = (): string => 'p';
  const p1 = pager.page({ limit: 4 }, name, 1);
  t.deepEqual(p1.entries.map((e) => e.mac.slice(-2)), ['01', '02', '03', '04']);
  // the daemon forgot the walk (restart, idle): the same cursor still continues after 04
  const fresh = new FdbPager(table);
  const p2 = fresh.page({ limit: 4, after: p1.next! }, name, 1);
  t.deepEqual(p2.entries.map((e) => e.mac.slice(-2)), ['05', '06', '07', '08']);
  // a bare MAC works as a cursor too
  t.deepEqual(fresh.page({ limit: 100, after: '02:00:00:00:00:08' }, name, 1).entries.map((e) => e.mac.slice(-2)), ['09', '0a']);
  t.throws(() => parseCursor('nonsense', 'params.after'), { message: /^params\.after: expected/ });
  // a snapshot is taken at the first page: entries learned during the walk do not shift later pages
  const q1 = pager.page({ limit: 5 }, name, 1);
  table.learn((0x80000000 | 0x0200) | 0, 0, 0, 1);
  const q2 = pager.page({ limit: 5, after: q1.next! }, name, 1);
  t.deepEqual([...q1.entries, ...q2.entries].map((e) => e.mac.slice(-2)), ['01', '02', '03', '04', '05', '06', '07', '08', '09', '0a']);
  t.is(q2.next, null);
});
