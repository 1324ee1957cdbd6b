import test from 'ava';
import { DEFAULT_TUNING, tuningFromEnv } from './switch.js';

test('data-path tuning from the environment: each variable sets its field', (t) => {
  t.deepEqual(tuningFromEnv({}), {});
  t.deepEqual(
    tuningFromEnv({ XVS_RING_FRAMES: '1024', XVS_COALESCE_US: '0', XVS_NICE: '-5', XVS_SPIN_YIELD: '0', XVS_CPUS: '0,1' }),
    { ringFrames: 1024, coalesceUs: 0, nice: -5, spinYield: false, cpus: [0, 1] },
  );
  t.deepEqual(tuningFromEnv({ XVS_BATCH: '64' }), { batchSize: 64, poolSlots: 64 * 2 + 128 + 512 });
});

test('the defaults: one 256-frame ring per port, coalescing 50 µs under overload, nice 0', (t) => {
  t.like(DEFAULT_TUNING, { ringFrames: 256, coalesceUs: 50, nice: 0, batchSize: 256 });
});

test('a bad tuning value is refused with the variable named, not clamped', (t) => {
  t.throws(() => tuningFromEnv({ XVS_RING_FRAMES: '8' }), { message: 'XVS_RING_FRAMES: expected an integer 16..8192, got "8"' });
  t.throws(() => tuningFromEnv({ XVS_COALESCE_US: 'soon' }), { message: /^XVS_COALESCE_US: expected an integer 0\.\.10000/ });
  t.throws(() => tuningFromEnv({ XVS_CPUS: '0,x' }), { message: /^XVS_CPUS: expected CPU numbers/ });
});

test('supervision tuning: watchdog 2 s, 256 MB worker heap, 5 s request timeout by default; each settable', (t) => {
  t.like(DEFAULT_TUNING, { watchdogMs: 2000, workerHeapMb: 256, requestTimeoutMs: 5000 });
  t.deepEqual(
    tuningFromEnv({ XVS_WATCHDOG_MS: '750', XVS_WORKER_HEAP_MB: '64', XVS_REQUEST_TIMEOUT_MS: '3000' }),
    { watchdogMs: 750, workerHeapMb: 64, requestTimeoutMs: 3000 },
  );
  t.throws(() => tuningFromEnv({ XVS_WATCHDOG_MS: '10' }), { message: /^XVS_WATCHDOG_MS: expected an integer 100\.\./ });
});

test('uplink steering is on by default; XVS_UPLINK_STEER=0 turns it off (the default-queue worker reads the uplink alone)', (t) => {
  t.like(DEFAULT_TUNING, { uplinkSteer: true });
  t.deepEqual(tuningFromEnv({ XVS_UPLINK_STEER: '0' }), { uplinkSteer: false });
  t.throws(() => tuningFromEnv({ XVS_UPLINK_STEER: 'yes' }), { message: /^XVS_UPLINK_STEER: expected an integer 0\.\.1/ });
});
