/**
 * Receive coalescing: interrupt moderation for a software switch.
 *
 * While one of the worker's rx rings is overflowing (its senders outrun the switch), a breath that
 * brought frames but did not fill its batch is followed by a short sleep, so the next breath carries
 * a larger batch: fewer syscalls per frame and, above all, one wake-up of each receiving guest per
 * batch instead of one per frame (a veth or TAP delivers in the sender's context, so a worker sharing
 * a CPU with the receiver is otherwise preempted after every frame it sends). Traffic the switch keeps
 * up with never overflows a ring and is never held, so request/response latency is untouched.
 * Measured in docs/BENCHMARKS.md ("Receive coalescing").
 */
export class RxCoalescing {
  private overloaded = false;
  private nextCheckMs = 0;

  /**
   * @param waitMs      how long to sleep after a batch that was not full (0 = never)
   * @param batchSize   frames a full breath brings
   * @param checkEveryMs how often the rings' drop counters are read (the overload signal)
   */
  constructor(readonly waitMs: number, readonly batchSize: number, readonly checkEveryMs = 100) {}

  /** whether the rx rings' drop counters should be read now */
  checkDue(nowMs: number): boolean {
    return this.waitMs > 0 && nowMs >= this.nextCheckMs;
  }

  /** the rings dropped `ringDrops` frames since the last check */
  observe(nowMs: number, ringDrops: number): void {
    this.nextCheckMs = nowMs + this.checkEveryMs;
    this.overloaded = ringDrops > 0;
  }

  get isOverloaded(): boolean {
    return this.overloaded;
  }

  /**
   * After a breath that received `got` frames: sleep before the next one? Only under overload,
   * only when the previous breath also received frames (a frame after a quiet spell is never held)
   * and only when the batch was not full (a full batch means the next one is ready already).
   */
  shouldWait(got: number, previousBreathReceived: boolean): boolean {
    return this.overloaded && previousBreathReceived && got > 0 && got < this.batchSize;
  }
}
