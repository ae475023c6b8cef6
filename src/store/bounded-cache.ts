const CACHE_LIMIT = 256;

/** A small insertion-ordered cache that forgets the oldest entry beyond CACHE_LIMIT. */
export class BoundedCache<T> {
  private readonly entries = new Map<string, { value: T; key: string }>();

  get(id: string): T | undefined {
    return this.entries.get(id)?.value;
  }

  keyOf(id: string): string | undefined {
    return this.entries.get(id)?.key;
  }

  set(id: string, value: T, key = id): void {
    this.entries.delete(id);
    if (this.entries.size >= CACHE_LIMIT) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(id, { value, key });
  }
}
