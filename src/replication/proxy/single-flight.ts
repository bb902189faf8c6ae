/**
 * Concurrent calls for the same key share one execution: the first starts it, the others get its
 * promise, and the key is free again once it settles.
 */
export class SingleFlight<T> {
  private readonly running = new Map<string, Promise<T>>();

  run(key: string, work: () => Promise<T>): Promise<T> {
    const existing = this.running.get(key);
    if (existing) return existing;
    const started = work().finally(() => {
      if (this.running.get(key) === started) this.running.delete(key);
    });
    this.running.set(key, started);
    return started;
  }

  get size(): number {
    return this.running.size;
  }
}
