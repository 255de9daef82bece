/**
 * A swarm worker PROCESS (forked by swarm.ts): simulates its slice of the agents and answers
 * the coordinator's commands over IPC. Several of these share a run so that neither the
 * open-file limit (20 000 per process) nor one process's CPU caps the swarm.
 */
import { SimAgent, type AttemptOptions } from './agent';
import type { AgentSlice, Command, WorkerEvent, WorkerStats } from './ipc';
import { WorkerTally } from './tally';

/** Held agents retry a failed attempt this many times before they count as lost. */
const MAX_ATTEMPTS = 10;
const PROGRESS_INTERVAL_MS = 100;

/** Runs `task` over `items` with at most `concurrency` in flight. */
export async function runLimited<T>(items: readonly T[], concurrency: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) await task(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, lane));
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class SwarmWorker {
  readonly tally = new WorkerTally();
  private held: SimAgent[] = [];

  async handle(cmd: Command): Promise<WorkerStats> {
    switch (cmd.cmd) {
      case 'handshakes':
        await this.handshakes(cmd.slice, cmd.concurrency, { target: cmd.target, until: cmd.until, timeoutMs: cmd.timeoutMs, keep: false });
        break;
      case 'connect':
        this.held.push(...this.agentsOf(cmd.slice));
        await this.bringUp(cmd.concurrency, { target: cmd.target, until: cmd.until, timeoutMs: cmd.timeoutMs, keep: true }, cmd.follow === true);
        break;
      case 'reconnect':
        await this.bringUp(cmd.concurrency, { target: cmd.target, until: cmd.until, timeoutMs: cmd.timeoutMs, keep: true }, cmd.follow === true);
        break;
      case 'mark':
        this.tally.mark(BigInt(cmd.markNs));
        break;
      case 'stats':
        break;
      case 'close':
        for (const agent of this.held) agent.close();
        this.held = [];
        break;
    }
    this.refreshConnected();
    return this.tally.stats();
  }

  refreshConnected(): void {
    let connected = 0;
    for (const agent of this.held) if (agent.isEstablished) connected++;
    this.tally.setConnected(connected);
  }

  private agentsOf(slice: AgentSlice): SimAgent[] {
    return Array.from({ length: slice.count }, (_, i) => {
      const index = slice.firstIndex + i;
      return new SimAgent(`${slice.guidPrefix}${index}`, slice.zone, slice.sources[index % slice.sources.length]!, this.tally);
    });
  }

  private async handshakes(slice: AgentSlice, concurrency: number, opts: AttemptOptions): Promise<void> {
    const indexes = Array.from({ length: slice.count }, (_, i) => slice.firstIndex + i);
    await runLimited(indexes, concurrency, async (index) => {
      const agent = new SimAgent(`${slice.guidPrefix}${index}`, slice.zone, slice.sources[index % slice.sources.length]!, this.tally);
      if (!(await agent.attempt(opts))) this.tally.lost();
    });
  }

  /**
   * Connects every held agent that is not established, retrying with a short random pause.
   * Following its list, an agent tries the next entry at once and pauses only after a round
   * of every entry failed, as the real agent does.
   */
  private async bringUp(concurrency: number, opts: AttemptOptions, follow = false): Promise<void> {
    const down = this.held.filter((agent) => !agent.isEstablished);
    await runLimited(down, concurrency, async (agent) => {
      for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
        const target = follow ? (agent.entry(attempt - 1) ?? opts.target) : opts.target;
        if (await agent.attempt({ ...opts, target })) return;
        if (!follow || agent.entries === 0 || attempt % agent.entries === 0) await pause(20 + Math.random() * 180);
      }
      this.tally.lost();
    });
  }
}

function send(event: WorkerEvent): void {
  // After the coordinator disconnects, a late progress tick has nowhere to go.
  // The callback receives a send error (EPIPE while the channel closes) instead of an 'error' event.
  if (process.connected) process.send?.(event, undefined, undefined, () => undefined);
}

function main(): void {
  const worker = new SwarmWorker();
  let sentVersion = -1;
  const progress = setInterval(() => {
    worker.refreshConnected();
    if (worker.tally.version === sentVersion) return;
    sentVersion = worker.tally.version;
    send({ ev: 'progress', counters: worker.tally.snapshot() });
  }, PROGRESS_INTERVAL_MS);
  process.on('message', (cmd: Command) => {
    worker.handle(cmd).then(
      (stats) => send({ ev: 'reply', id: cmd.id, stats }),
      (err: unknown) => send({ ev: 'failed', id: cmd.id, message: (err as Error).message }),
    );
  });
  send({ ev: 'ready' });
  // The coordinator went away (or closed us): stop, whatever is in flight.
  process.on('disconnect', () => {
    clearInterval(progress);
    process.exit(0);
  });
}

if (require.main === module) main();
