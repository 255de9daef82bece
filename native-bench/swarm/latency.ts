/**
 * Latency recording with HdrHistogram (hdr-histogram-js, the library autocannon records with):
 * values in microseconds, 3 significant digits, merged across worker processes by shipping
 * each worker's histogram as compressed base64 over IPC.
 */
import * as hdr from 'hdr-histogram-js';

export type LatencyHistogram = hdr.Histogram;

/** Percentiles in milliseconds, the columns of every latency table. */
export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export function newHistogram(): LatencyHistogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
}

/** Records a duration given in nanoseconds (process.hrtime.bigint() differences). */
export function recordNs(histogram: LatencyHistogram, ns: bigint): void {
  const us = Number(ns / 1000n);
  histogram.recordValue(Math.max(1, Math.min(us, 3_600_000_000)));
}

export function encodeHistogram(histogram: LatencyHistogram): string {
  return hdr.encodeIntoCompressedBase64(histogram);
}

/** Merges encoded histograms from several workers into one. */
export function mergeHistograms(encoded: readonly string[]): LatencyHistogram {
  const total = newHistogram();
  for (const item of encoded) total.add(hdr.decodeFromCompressedBase64(item));
  return total;
}

const round = (us: number): number => Math.round(us) / 1000;

export function summarize(histogram: LatencyHistogram): LatencySummary {
  if (histogram.totalCount === 0) return { count: 0, p50: 0, p90: 0, p99: 0, max: 0, mean: 0 };
  return {
    count: histogram.totalCount,
    p50: round(histogram.getValueAtPercentile(50)),
    p90: round(histogram.getValueAtPercentile(90)),
    p99: round(histogram.getValueAtPercentile(99)),
    max: round(histogram.maxValue),
    mean: round(histogram.mean),
  };
}
