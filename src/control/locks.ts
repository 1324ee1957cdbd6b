/**
 * Per-switch serialization of control-plane changes. A change to switch sw1 never waits behind a change to
 * sw0; a change that spans every switch (`config.apply`, plug-in install/uninstall, restore) takes every lock.
 * Waiting is bounded: a request queued behind a change that does not finish (a wedged switch) fails with
 * `BusyError` naming the switch, and never runs later.
 */

/** The lock of a switch could not be taken in time: an earlier change to it is still running. */
export class BusyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BusyError';
  }
}

export const ALL = Symbol('all switches');
export type LockScope = readonly string[] | typeof ALL;

export class SwitchLocks {
  /** per switch: resolves when the last change queued on it is done */
  private readonly tails = new Map<string, Promise<void>>();
  /** resolves when the last change that took every lock is done */
  private allTail: Promise<void> = Promise.resolve();

  constructor(private readonly waitMs: number) {}

  /** Runs `fn` once every lock in `scope` is free; fails with BusyError if that takes longer than the wait limit. */
  run<T>(scope: LockScope, fn: () => Promise<T>): Promise<T> {
    const names = scope === ALL ? [...this.tails.keys()] : [...new Set(scope)];
    const waits = [this.allTail, ...names.map((n) => this.tails.get(n)).filter((p): p is Promise<void> => p !== undefined)];
    const free = Promise.all(waits).then(() => true);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), this.waitMs);
      timer.unref();
    });
    const run = Promise.race([free, timeout]).then((got) => {
      clearTimeout(timer);
      if (!got) {
        const who = scope === ALL ? 'every switch' : names.map((n) => `switch "${n}"`).join(', ');
        throw new BusyError(`${who}: an earlier change has not finished after ${Math.round(this.waitMs / 1000)} s; try again later (see "xvs daemon status")`);
      }
      return fn();
    });
    // whoever comes next waits for the earlier holders too (also when this request gave up waiting)
    const done = Promise.all([free, run.then(() => undefined, () => undefined)]).then(() => undefined);
    if (scope === ALL) {
      this.allTail = done;
      this.tails.clear();
    } else {
      for (const n of names) this.tails.set(n, done);
    }
    void done.then(() => {
      if (scope === ALL) {
        if (this.allTail === done) this.allTail = Promise.resolve();
      } else {
        for (const n of names) if (this.tails.get(n) === done) this.tails.delete(n);
      }
    });
    return run;
  }
}
