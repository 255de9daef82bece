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

/**
 * EventCounter by two labels (agentlb_calls_total{method,outcome}: a fan-out moves it once
 * per host, and prom-client's inc with a label object was ~1 % of a 15 000-agent fan-out).
 */
export class EventCounter2 {
  /** By the pair of label values (joined by NUL, which no label value here holds), in first-seen order as prom-client exports them. */
  private readonly counts = new Map<string, { first: string; second: string; count: number }>();

  /** `known`: [first, second] label values exported at 0 from the start. */
  constructor(registry: Registry, name: string, help: string, labels: readonly [string, string], known: readonly (readonly [string, string])[] = []) {
    for (const [first, second] of known) this.counts.set(`${first}\0${second}`, { first, second, count: 0 });
    const counts = this.counts;
    new Counter({
      name,
      help,
      labelNames: labels,
      registers: [registry],
      collect() {
        this.reset();
        for (const { first, second, count } of counts.values()) this.inc({ [labels[0]]: first, [labels[1]]: second }, count);
      },
    });
  }

  inc(first: string, second: string): void {
    const key = `${first}\0${second}`;
    const entry = this.counts.get(key);
    if (entry === undefined) this.counts.set(key, { first, second, count: 1 });
    else entry.count++;
  }
}
