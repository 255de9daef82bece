/**
 * A Prometheus counter by one label whose value moves on server events, counted in plain
 * numbers and handed to prom-client only when /metrics is scraped. prom-client's
 * `inc({ label: value })` builds, validates and hashes the label object on every call; a
 * handshake moves three counters (handshake, hosts frame sent, disconnect), and those calls
 * showed in the handshake benchmark's profile. A scrape copies a few dozen numbers instead.
 */
import { Counter, type Registry } from 'prom-client';

export class EventCounter {
  /** By label value, in the order prom-client exports them: the known values first. */
  private readonly counts = new Map<string, number>();

  /** `known`: label values exported at 0 from the start. */
  constructor(registry: Registry, name: string, help: string, label: string, known: readonly string[] = []) {
    for (const value of known) this.counts.set(value, 0);
    const counts = this.counts;
    new Counter({
      name,
      help,
      labelNames: [label],
      registers: [registry],
      collect() {
        this.reset();
        for (const [value, count] of counts) this.inc({ [label]: value }, count);
      },
    });
  }

  inc(value: string): void {
    this.counts.set(value, (this.counts.get(value) ?? 0) + 1);
  }
}
