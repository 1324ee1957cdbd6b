/**
 * Which extension owns a frame slot that is not in a batch (a clone or an allocated frame waiting to
 * be injected). Writes through an ExtensionContext are allowed only on frames the extension owns,
 * so a capture or filter extension cannot write into the frames of a batch it was handed.
 */
export class FrameOwnership {
  private readonly owner: Int32Array;

  constructor(slots: number) {
    this.owner = new Int32Array(slots);
  }

  /** `me` is an extension's stage id + 1 (0 = nobody) */
  claim(id: number, me: number): void {
    this.owner[id] = me;
  }

  owns(id: number, me: number): boolean {
    return id >= 0 && id < this.owner.length && this.owner[id] === me;
  }

  clear(id: number): void {
    this.owner[id] = 0;
  }
}
