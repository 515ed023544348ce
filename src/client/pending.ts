/**
 * The calls a client has in flight, by request id.
 *
 * A `Map` did this job, but with a few dozen calls in flight it grew as a burst was sent and shrank as its
 * replies came back: a new hash table every round trip. Where a client shares its heap with much else (in
 * a one-process harness, client and owner together), V8 promoted those tables and collecting them took a
 * fifth of the CPU. Ids are handed out in sequence and most calls end within a round trip, so the ids in
 * flight are almost always distinct modulo a power of two above their count: this table keeps each call in
 * slot `id & mask`. A call that stays in flight for long (a lock wait) is eventually met by a new id that
 * wants its slot; it then moves to a small overflow Map, which leaves the slot to the steady stream of short
 * calls. Doubling instead would double the table every time the ids went round it once more. The table
 * doubles only when the calls in flight fill half of it, and never shrinks (100,000 calls at once leave
 * ~3 MB).
 */
export class PendingTable<T> {
  private ids = new Int32Array(64);
  private items: Array<T | undefined> = new Array<T | undefined>(64).fill(undefined);
  private mask = 63;
  private inSlots = 0;
  /** Calls moved out of their slot by a newer call that wanted it. */
  private readonly overflow = new Map<number, T>();

  /** Calls in the table. */
  get size(): number {
    return this.inSlots + this.overflow.size;
  }

  /** The call with this id, if it is in flight. */
  get(id: number): T | undefined {
    const slot = id & this.mask;
    if (this.ids[slot] === id) return this.items[slot];
    return this.overflow.size === 0 ? undefined : this.overflow.get(id);
  }

  /** Adds a call; `id` must be a positive int32 that is not in the table. */
  set(id: number, item: T): void {
    if (2 * (this.inSlots + 1) > this.ids.length) this.grow();
    const slot = id & this.mask;
    const held = this.ids[slot]!;
    if (held !== 0) {
      // The call there is older than every id since: it has been in flight for a whole turn of the table.
      this.overflow.set(held, this.items[slot] as T);
      this.inSlots--;
    }
    this.ids[slot] = id;
    this.items[slot] = item;
    this.inSlots++;
  }

  /** Removes the call with this id; false when it was not in flight. */
  delete(id: number): boolean {
    const slot = id & this.mask;
    if (this.ids[slot] === id) {
      this.ids[slot] = 0;
      this.items[slot] = undefined;
      this.inSlots--;
      return true;
    }
    return this.overflow.size !== 0 && this.overflow.delete(id);
  }

  /**
   * Calls `fn` for every call in the table (in no particular order). `fn` may delete calls but must not
   * add any.
   */
  forEach(fn: (item: T, id: number) => void): void {
    const ids = this.ids;
    const items = this.items;
    for (let slot = 0; slot < ids.length && this.inSlots > 0; slot++) {
      const id = ids[slot]!;
      if (id !== 0) fn(items[slot] as T, id);
    }
    for (const [id, item] of [...this.overflow]) fn(item, id);
  }

  /** Removes every call and returns them. */
  drain(): T[] {
    const out: T[] = [];
    this.forEach((item) => {
      out.push(item);
    });
    this.ids.fill(0);
    this.items.fill(undefined);
    this.inSlots = 0;
    this.overflow.clear();
    return out;
  }

  /** Doubles the slots. Ids in distinct slots differ modulo the old size, so they differ modulo the new. */
  private grow(): void {
    const oldIds = this.ids;
    const oldItems = this.items;
    const size = oldIds.length * 2;
    this.ids = new Int32Array(size);
    this.items = new Array<T | undefined>(size).fill(undefined);
    this.mask = size - 1;
    for (let slot = 0; slot < oldIds.length; slot++) {
      const id = oldIds[slot]!;
      if (id === 0) continue;
      this.ids[id & this.mask] = id;
      this.items[id & this.mask] = oldItems[slot];
    }
  }
}
