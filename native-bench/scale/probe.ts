/**
 * The scale bench's probe agent, in a process of its own (forked by probe-client.ts) so that
 * nothing the bench process does (parsing a 30 MB GET /api/hosts, say) delays what it sees.
 *
 * It holds one connection to the server under test and pings every 20 ms; the server answers
 * each ping with a pong from its event loop, so the longest gap between two frames received is
 * the longest the server left an agent unanswered. On a drop it reconnects at once (every
 * 50 ms until it is welcomed) and counts the drop: a drop outside a restart is a failed target.
 * Its own event-loop delay is measured too, so a stall of the probe is not blamed on the server.
 *
 * IPC: the parent sends {cmd:'mark'} (start a window) and {cmd:'read'} (report the window);
 * the probe answers each with a ProbeWindow.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { connectFramed, type FramedSocket } from '../../src/protocol/framed-socket';
import { PROTOCOL_VERSION, type ServerMessage } from '../../src/protocol/messages';

export interface ProbeWindow {
  /** Longest time without any frame from the server, ms (connected or not). */
  maxSilenceMs: number;
  /** Drops of the probe's connection in the window. */
  drops: number;
  /** Time from the first drop to the next welcome, ms (undefined: no drop, or not back yet). */
  backAfterMs: number | undefined;
  /** Whether the probe is connected (welcomed) at the read. */
  connected: boolean;
  /** The probe process's own longest event-loop delay in the window, ms. */
  probeLoopMaxMs: number;
  pings: number;
  pongs: number;
}

const PING_EVERY_MS = 20;
const RETRY_EVERY_MS = 50;

const [host = '127.0.0.1', portText = '0', guid = 'scale-probe'] = process.argv.slice(2);
const port = Number(portText);

let socket: FramedSocket | undefined;
let welcomed = false;
let lastFrameMs = performance.now();
let maxSilenceMs = 0;
let drops = 0;
let droppedAtMs: number | undefined;
let backAfterMs: number | undefined;
let pings = 0;
let pongs = 0;
const loop = monitorEventLoopDelay({ resolution: 5 });
loop.enable();

function frameArrived(): void {
  const now = performance.now();
  maxSilenceMs = Math.max(maxSilenceMs, now - lastFrameMs);
  lastFrameMs = now;
}

function onMessage(message: ServerMessage): void {
  frameArrived();
  switch (message.type) {
    case 'welcome':
      welcomed = true;
      if (droppedAtMs !== undefined && backAfterMs === undefined) backAfterMs = performance.now() - droppedAtMs;
      return;
    case 'ping':
      socket?.send({ type: 'pong' });
      return;
    case 'pong':
      pongs += 1;
      return;
    case 'hosts':
      // Acked as an agent does; the list itself is not followed (the probe stays on its server).
      socket?.send({ type: 'ack', seq: message.seq, ok: true });
      return;
    case 'error':
      return;
  }
}

async function connect(): Promise<void> {
  for (;;) {
    try {
      const next = await connectFramed({ host, port, timeoutMs: 2_000 });
      next.on('message', onMessage);
      next.once('close', () => {
        if (socket !== next) return;
        socket = undefined;
        if (welcomed) {
          drops += 1;
          droppedAtMs ??= performance.now();
        }
        welcomed = false;
        void connect();
      });
      socket = next;
      next.send({ type: 'hello', version: PROTOCOL_VERSION, guid, hosts: [], algorithm: '' });
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, RETRY_EVERY_MS));
    }
  }
}

setInterval(() => {
  if (socket !== undefined && welcomed) {
    socket.send({ type: 'ping' });
    pings += 1;
  }
}, PING_EVERY_MS);

function window(): ProbeWindow {
  // A silence still going on at the read counts too.
  const silence = Math.max(maxSilenceMs, performance.now() - lastFrameMs);
  return {
    maxSilenceMs: Math.round(silence * 10) / 10,
    drops,
    backAfterMs: backAfterMs === undefined ? undefined : Math.round(backAfterMs),
    connected: welcomed,
    probeLoopMaxMs: Math.round(loop.max / 1e5) / 10,
    pings,
    pongs,
  };
}

process.on('message', (message: { cmd: 'mark' | 'read' }) => {
  if (message.cmd === 'mark') {
    lastFrameMs = Math.max(lastFrameMs, performance.now() - PING_EVERY_MS);
    maxSilenceMs = 0;
    drops = 0;
    droppedAtMs = undefined;
    backAfterMs = undefined;
    pings = 0;
    pongs = 0;
    loop.reset();
  }
  process.send?.(window());
});
process.on('disconnect', () => process.exit(0));

void connect();
