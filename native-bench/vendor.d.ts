/**
 * The few members of untyped dev dependencies that the bench uses (autocannon ships no types;
 * `progress` is the bar autocannon itself draws with).
 */
declare module 'progress' {
  interface ProgressBarOptions {
    total: number;
    width?: number;
    stream?: NodeJS.WritableStream;
    renderThrottle?: number;
    clear?: boolean;
  }
  class ProgressBar {
    constructor(format: string, options: ProgressBarOptions);
    update(ratio: number, tokens?: Record<string, string | number>): void;
    terminate(): void;
    readonly complete: boolean;
  }
  export = ProgressBar;
}

declare module 'autocannon' {
  namespace autocannon {
    interface Options {
      url: string;
      connections?: number;
      duration?: number;
      method?: string;
      headers?: Record<string, string>;
    }
    interface Stats {
      average: number;
      mean: number;
      stddev: number;
      min: number;
      max: number;
      p50: number;
      p90: number;
      p99: number;
      total: number;
    }
    interface Result {
      url: string;
      latency: Stats;
      requests: Stats & { sent: number };
      throughput: Stats;
      errors: number;
      timeouts: number;
      non2xx: number;
      duration: number;
    }
    function printResult(result: Result, opts?: { outputStream?: NodeJS.WritableStream; renderLatencyTable?: boolean }): string;
  }
  function autocannon(options: autocannon.Options): Promise<autocannon.Result>;
  export = autocannon;
}
