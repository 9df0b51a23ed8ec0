/** Bounding concurrency and waiting: a counting semaphore, loops with a bound, sleep. */

/** A counting semaphore: at most `size` holders at once, served in order. */
export class Semaphore {
  private waiting: (() => void)[] = [];
  private held = 0;

  constructor(readonly size: number) {
    if (size < 1) throw new RangeError("a semaphore needs at least one slot");
  }

  /** Waits for a slot; call the returned function once to give it back. */
  async acquire(): Promise<() => void> {
    if (this.held < this.size) {
      this.held++;
    } else {
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    return this.releaser();
  }

  /** A slot when one is free now, else undefined (never waits, never jumps the queue). */
  tryAcquire(): (() => void) | undefined {
    if (this.held >= this.size || this.waiting.length > 0) return undefined;
    this.held++;
    return this.releaser();
  }

  /** Gives a held slot back once, to the first waiter if there is one. */
  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.held--;
    };
  }

  /** Runs `fn` while holding a slot. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire();
    try {
      return await fn();
    } finally {
      release();
    }
  }
}

/**
 * Runs `worker` over `items` with at most `concurrency` at once; the first failure stops new
 * starts and is thrown once all started work settled. `concurrency` loops take the items in
 * turn: a Promise.race over the running tasks per item left a reaction on each of them every
 * time (for 100,000 files, 32 each), and cost a promise and a closure more per item.
 */
export async function forEachConcurrent<T>(
  items: Iterable<T> | AsyncIterable<T>,
  concurrency: number,
  worker: (item: T) => Promise<void>,
): Promise<void> {
  const iterator: Iterator<T> | AsyncIterator<T> = Symbol.asyncIterator in items
    ? items[Symbol.asyncIterator]()
    : items[Symbol.iterator]();
  let failure: { error: unknown } | undefined;
  let done = false;
  const loop = async () => {
    while (!failure && !done) {
      let next: IteratorResult<T>;
      try {
        next = await iterator.next();
      } catch (error) {
        failure ??= { error };
        return;
      }
      if (next.done) {
        done = true;
        return;
      }
      try {
        await worker(next.value);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, loop));
  if (failure) throw failure.error;
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
