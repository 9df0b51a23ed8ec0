/**
 * Helpers of the compact tables (create's scan, the previous snapshot, a snapshot read for
 * restore): typed-array columns that grow, and strings held once each, referred to by index.
 */

/** A typed array column. */
export type Column = Int32Array | Uint32Array | Uint8Array | Float64Array;

/** A column of `capacity` elements holding `old`'s first ones (the column grown). */
export function grown<T extends Column>(old: T, capacity: number): T {
  const next = new (old.constructor as new (length: number) => T)(capacity);
  next.set(old as never);
  return next;
}

/** Strings held once each, in the order they came, each known by its index. */
export class StringIndex {
  readonly list: string[] = [];
  private readonly indices = new Map<string, number>();

  /** The index of `value`, added when new. */
  of(value: string): number {
    let index = this.indices.get(value);
    if (index === undefined) {
      index = this.list.push(value) - 1;
      this.indices.set(value, index);
    }
    return index;
  }

  /** The index of `value`, or undefined when it was never added. */
  find(value: string): number | undefined {
    return this.indices.get(value);
  }
}
