// Dynamic batching: texts of concurrent requests wait in one bounded queue and run through the model together, up to
// `maxBatch` texts per batch, a batch starting once it is full or its oldest text has waited `maxWaitMs`. Up to
// `concurrency` batches run at a time (default 1: one model; more when the model decodes them in one continuous batch);
// texts that arrive meanwhile form the next batch as soon as one ends.

export class QueueFullError extends Error {}
export class ClosingError extends Error {}

export interface BatcherOptions {
  maxBatch: number;
  maxWaitMs: number;
  /** Most texts waiting (not yet in a running batch); a request that would exceed it is refused whole, unless none wait. */
  maxQueue: number;
  /** Batches running at once (default 1). */
  concurrency?: number;
  /** Called with each batch's size as it starts; the batch runs once a returned promise settles (tests hold it). */
  onBatch?: (size: number) => void | Promise<void>;
}

interface Job<I, O> {
  item: I;
  resolve: (o: O) => void;
  reject: (e: unknown) => void;
}

export interface BatcherStats {
  batches: number;
  items: number;
  /** Batch size -> how many batches had it. */
  sizes: Record<number, number>;
  waiting: number;
  running: number;
}

export class Batcher<I, O> {
  private queue: Job<I, O>[] = [];
  /** Texts in running batches, and those batches. */
  private running = 0;
  private batchesRunning = 0;
  private timer: NodeJS.Timeout | null = null;
  private closing = false;
  private idle: (() => void)[] = [];
  private readonly counts = { batches: 0, items: 0, sizes: {} as Record<number, number> };

  constructor(
    private readonly run: (items: I[]) => Promise<O[]>,
    private readonly o: BatcherOptions,
  ) {
    if (!(o.maxBatch >= 1 && o.maxQueue >= 1 && o.maxWaitMs >= 0 && (o.concurrency ?? 1) >= 1))
      throw new Error('Batcher: maxBatch, maxQueue and concurrency must be >= 1, maxWaitMs >= 0');
  }

  /**
   * Results in item order; rejects with QueueFullError / ClosingError without queueing anything. An empty queue takes
   * any request, even one larger than maxQueue: refusing it then would refuse every retry too.
   */
  submit(items: readonly I[]): Promise<O[]> {
    if (this.closing) return Promise.reject(new ClosingError('the server is shutting down'));
    if (this.queue.length > 0 && this.queue.length + items.length > this.o.maxQueue)
      return Promise.reject(
        new QueueFullError(`queue full (${this.queue.length} of ${this.o.maxQueue} texts waiting)`),
      );
    const done = Promise.all(
      items.map((item) => new Promise<O>((resolve, reject) => this.queue.push({ item, resolve, reject }))),
    );
    this.schedule();
    return done;
  }

  stats(): BatcherStats {
    return { ...this.counts, sizes: { ...this.counts.sizes }, waiting: this.queue.length, running: this.running };
  }

  /** Refuse new texts; resolves once every queued and running text is done. */
  drain(): Promise<void> {
    this.closing = true;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.schedule(true);
    if (this.queue.length === 0 && this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /** Whether another batch may start. */
  private get full(): boolean {
    return this.batchesRunning >= (this.o.concurrency ?? 1);
  }

  private schedule(now = false): void {
    if (this.full || this.queue.length === 0) return;
    if (now || this.closing || this.queue.length >= this.o.maxBatch) {
      this.flush();
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = null;
      this.flush();
    }, this.o.maxWaitMs);
  }

  private flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.full || this.queue.length === 0) return;
    const jobs = this.queue.splice(0, this.o.maxBatch);
    this.running += jobs.length;
    this.batchesRunning++;
    this.counts.batches++;
    this.counts.items += jobs.length;
    this.counts.sizes[jobs.length] = (this.counts.sizes[jobs.length] ?? 0) + 1;
    Promise.resolve(this.o.onBatch?.(jobs.length))
      .then(() => this.run(jobs.map((j) => j.item)))
      .then(
        (out) => jobs.forEach((j, i) => j.resolve(out[i] as O)),
        (e: unknown) => jobs.forEach((j) => j.reject(e)),
      )
      .finally(() => {
        this.running -= jobs.length;
        this.batchesRunning--;
        // Texts that arrived during this batch have waited at least as long as it ran: they go now.
        if (this.queue.length > 0) this.schedule(true);
        else if (this.running === 0) for (const f of this.idle.splice(0)) f();
      });
    // Room for another batch: the texts left (or arriving) wait for it as usual.
    if (this.queue.length > 0) this.schedule();
  }
}
