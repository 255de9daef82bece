/**
 * A Prometheus histogram without labels whose observations come from server events, counted in
 * a typed array and formatted only when /metrics is scraped. prom-client's observe() keys its
 * buckets by the bound turned into a string (0.0025 -> "0.0025") on every call: ~5 us per
 * handshake in the server's profile under the handshake benchmark at load 12, for one
 * histogram. The exported series are prom-client's own (same names, `le` labels, order).
 *
 * It stays a prom-client Histogram (registered, reset and merged like one); record() is its
 * observe(), and the two read paths prom-client's Registry uses are answered from the counts.
 */
import { Histogram, type Registry } from 'prom-client';

interface Sample {
  labels: Record<string, string | number>;
  sharedLabels: Record<string, string | number>;
  value: number;
  metricName: string;
  /** null on buckets, undefined (but present) on _sum and _count, as the base class has them. */
  exemplar: null | undefined;
}

export class EventHistogram extends Histogram {
  private readonly seriesName: string;
  private readonly seriesHelp: string;
  private readonly bounds: readonly number[];
  /** Observations per bucket (not cumulative); the last slot counts those above every bound. */
  private readonly perBucket: Float64Array;
  private sum = 0;
  private count = 0;

  constructor(registry: Registry, name: string, help: string, buckets: readonly number[]) {
    super({ name, help, buckets: [...buckets], registers: [registry] });
    this.seriesName = name;
    this.seriesHelp = help;
    this.bounds = [...buckets];
    this.perBucket = new Float64Array(this.bounds.length + 1);
  }

  /** Observes `value` (seconds). */
  record(value: number): void {
    if (!Number.isFinite(value)) return; // prom-client would throw; an event must never break its emitter
    const { bounds } = this;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.perBucket[i]! += 1;
    this.sum += value;
    this.count += 1;
  }

  override reset(): void {
    this.perBucket?.fill(0);
    this.sum = 0;
    this.count = 0;
  }

  /**
   * What prom-client's Registry formats for the text exposition, in the base class's shape (the
   * Registry asks for this before get(); test/admin/event-metrics.test.ts pins the text against
   * a prom-client Histogram fed the same values).
   */
  getForPromString(): Promise<{ name: string; help: string; type: 'histogram'; values: Sample[]; aggregator: 'sum' }> {
    return Promise.resolve({ name: this.seriesName, help: this.seriesHelp, type: 'histogram', values: this.samples(), aggregator: 'sum' });
  }

  /** The JSON form (Registry#getMetricsAsJSON): the base class's object, with these counts. */
  override async get(): ReturnType<Histogram['get']> {
    const base = await super.get();
    // The shared labels folded into each sample's own, as the base class does.
    const values = this.samples().map(({ labels, sharedLabels, ...rest }) => ({ ...rest, labels: { ...labels, ...sharedLabels } }));
    return { ...base, values };
  }

  private samples(): Sample[] {
    const bucketName = `${this.seriesName}_bucket`;
    const values: Sample[] = [];
    let cumulative = 0;
    this.bounds.forEach((bound, i) => {
      cumulative += this.perBucket[i]!;
      values.push({ labels: { le: bound }, sharedLabels: {}, value: cumulative, metricName: bucketName, exemplar: null });
    });
    values.push({ labels: { le: '+Inf' }, sharedLabels: {}, value: this.count, metricName: bucketName, exemplar: null });
    values.push({ labels: {}, sharedLabels: {}, value: this.sum, metricName: `${this.seriesName}_sum`, exemplar: undefined });
    values.push({ labels: {}, sharedLabels: {}, value: this.count, metricName: `${this.seriesName}_count`, exemplar: undefined });
    return values;
  }
}
