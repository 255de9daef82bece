/**
 * The messages between the swarm coordinator (swarm.ts) and its worker processes (worker.ts),
 * over child_process IPC (JSON). Times are process.hrtime.bigint() values as decimal strings:
 * CLOCK_MONOTONIC on Linux, shared by every process on the machine, so a worker's timestamps
 * compare directly with the coordinator's.
 */

export interface Target {
  host: string;
  port: number;
}

/** Which agents a worker simulates: guids `${guidPrefix}${index}` for index in [first, first+count). */
export interface AgentSlice {
  guidPrefix: string;
  firstIndex: number;
  count: number;
  zone: string;
  /** Source addresses to bind before connecting; agent i uses sources[i % length]. */
  sources: string[];
}

/**
 * `follow`: an agent that holds a list connects as a real agent does — its first entry, then
 * the next ones when that fails — instead of to `target` (which it uses until it has a list).
 */

/** The frame that ends a handshake: `hosts` when the agent's hello list is outdated. */
export type HandshakeEnd = 'welcome' | 'hosts';

export type Command =
  /** N fresh connections at `concurrency`: connect, hello, welcome (+hosts), close. */
  | { id: number; cmd: 'handshakes'; target: Target; slice: AgentSlice; concurrency: number; until: HandshakeEnd; timeoutMs: number }
  /** Connect every agent of the slice and keep it connected, answering `hosts` with `ack`. */
  | { id: number; cmd: 'connect'; target: Target; slice: AgentSlice; concurrency: number; until: HandshakeEnd; timeoutMs: number; follow?: boolean }
  /** Reconnect every agent that is down (after a server restart), `concurrency` at a time. */
  | { id: number; cmd: 'reconnect'; target: Target; concurrency: number; until: HandshakeEnd; timeoutMs: number; follow?: boolean }
  /** Zero the counters and histograms; `markNs` is the moment later latencies count from. */
  | { id: number; cmd: 'mark'; markNs: string }
  | { id: number; cmd: 'stats' }
  /** Close every agent (no reconnect) and reply; the worker then exits on disconnect. */
  | { id: number; cmd: 'close' };

export type CommandName = Command['cmd'];

/** Counters since the last `mark`. */
export interface Counters {
  /** Connection attempts started. */
  attempts: number;
  /** Handshakes completed (the `until` frame received). */
  completed: number;
  welcomed: number;
  hostsReceived: number;
  acked: number;
  /** Agents currently connected and past their handshake. */
  connected: number;
  /** Established agents whose connection the server closed. */
  dropped: number;
  /** Established agents that moved to their first entry on a `recheck`, make-before-break. */
  switched: number;
  /** Failed attempts by kind (connect, timeout, closed, error:<code>, protocol:<code>). */
  failures: Record<string, number>;
  /** Agents that gave up (a `handshakes` attempt that failed, or retries exhausted). */
  lost: number;
  lastCompletedNs: string;
  lastAckNs: string;
}

export interface WorkerStats {
  counters: Counters;
  /** connect start -> the handshake's last frame, compressed base64 HdrHistogram (µs). */
  handshake: string;
  /** mark -> each `hosts` frame received (propagation), compressed base64 HdrHistogram (µs). */
  hostsSinceMark: string;
}

export type WorkerEvent =
  /** Sent once the worker listens for commands. */
  | { ev: 'ready' }
  | { ev: 'progress'; counters: Counters }
  | { ev: 'reply'; id: number; stats: WorkerStats }
  | { ev: 'failed'; id: number; message: string };
