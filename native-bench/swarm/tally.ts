/**
 * One worker's counters and latency histograms since the last mark: what its agents report
 * into and what it ships to the coordinator.
 */
import type { Counters, WorkerStats } from './ipc';
import { encodeHistogram, newHistogram, recordNs, type LatencyHistogram } from './latency';

export function emptyCounters(): Counters {
  return {
    attempts: 0,
    completed: 0,
    welcomed: 0,
    hostsReceived: 0,
    acked: 0,
    connected: 0,
    dropped: 0,
    switched: 0,
    failures: {},
    lost: 0,
    lastCompletedNs: '0',
    lastAckNs: '0',
  };
}

export class WorkerTally {
  private counters = emptyCounters();
  private handshake: LatencyHistogram = newHistogram();
  private hostsSinceMark: LatencyHistogram = newHistogram();
  private markNs = process.hrtime.bigint();
  /** Bumped on every change, so progress is only sent when something moved. */
  version = 0;

  /** Zeroes everything except the live connection count, which is a level, not a count. */
  mark(markNs: bigint): void {
    const connected = this.counters.connected;
    this.counters = emptyCounters();
    this.counters.connected = connected;
    this.handshake = newHistogram();
    this.hostsSinceMark = newHistogram();
    this.markNs = markNs;
    this.version++;
  }

  attempt(): void {
    this.counters.attempts++;
    this.version++;
  }

  welcomed(): void {
    this.counters.welcomed++;
    this.version++;
  }

  completed(startedNs: bigint): void {
    const now = process.hrtime.bigint();
    recordNs(this.handshake, now - startedNs);
    this.counters.completed++;
    this.counters.lastCompletedNs = now.toString();
    this.version++;
  }

  /** `pushed`: arrived on an established connection (a live change), not during a handshake. */
  hostsReceived(pushed: boolean): void {
    this.counters.hostsReceived++;
    if (pushed) recordNs(this.hostsSinceMark, process.hrtime.bigint() - this.markNs);
    this.version++;
  }

  acked(): void {
    this.counters.acked++;
    this.counters.lastAckNs = process.hrtime.bigint().toString();
    this.version++;
  }

  failure(kind: string): void {
    this.counters.failures[kind] = (this.counters.failures[kind] ?? 0) + 1;
    this.version++;
  }

  dropped(): void {
    this.counters.dropped++;
    this.version++;
  }

  switched(): void {
    this.counters.switched++;
    this.version++;
  }

  lost(): void {
    this.counters.lost++;
    this.version++;
  }

  setConnected(count: number): void {
    if (count !== this.counters.connected) this.version++;
    this.counters.connected = count;
  }

  snapshot(): Counters {
    return { ...this.counters, failures: { ...this.counters.failures } };
  }

  stats(): WorkerStats {
    return {
      counters: this.snapshot(),
      handshake: encodeHistogram(this.handshake),
      hostsSinceMark: encodeHistogram(this.hostsSinceMark),
    };
  }
}
