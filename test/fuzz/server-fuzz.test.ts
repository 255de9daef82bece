/**
 * The server under fire, as a real process: for AGENTLB_FUZZ_SECONDS (default 3; `npm run
 * fuzz` runs longer), at once:
 *
 * - bad clients, many at a time, each from its own loopback address: random bytes, random
 *   payloads in valid frames, mutated and truncated hellos, oversized lengths, a flood of
 *   garbage, a first frame that is not hello, and hellos dripped a byte at a time;
 * - connection floods from one address (the rate limit must refuse them);
 * - an agent that stops reading and floods pings (the write-buffer cap must drop it);
 * - well-behaved agents handshaking again and again, each from an address of its own.
 *
 * It ends with the server alive and serving, its RSS never more than 64 MiB above what it was
 * after start-up, every well-behaved handshake served, and every bad client closed by the server
 * with exactly the error the protocol prescribes for its bytes (the decoder is the oracle).
 * AGENTLB_FUZZ_SEED replays a run (the seed is printed).
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { connectFramed, nextMessage } from '../../src/protocol/framed-socket';
import { PROTOCOL_VERSION, type ServerMessage } from '../../src/protocol/messages';
import { cleanEnv, startServerProcess, type ServerProcess } from '../helpers/cli';
import { BAD_KINDS, badInput, helloFrame, prng, randomInt, runBadClient, runSlowConsumer, type BadKind, type Expected, type FuzzLimits } from './fuzz-clients';

const SECONDS = Number(process.env['AGENTLB_FUZZ_SECONDS'] ?? 3);
const SEED = Number(process.env['AGENTLB_FUZZ_SEED'] ?? Date.now() % 2 ** 31);
const RSS_GROWTH_LIMIT = 64 * 1024 * 1024;
// A handshake timeout well above any stall of this (busy) test process, so a bad client's bytes
// always reach the server before it: the expected answer is the decoder's, never a timeout.
const LIMITS: FuzzLimits = { maxFrame: 4096, handshakeTimeoutMs: 2_000 };
const RATE = 20;
const BURST = 40;
const BAD_CONCURRENCY = 12;
const GOOD_AGENTS = 6;
const FLOOD_SIZE = 3 * BURST;
/** Generous: only a server that stopped serving misses it. */
const CLIENT_DEADLINE_MS = 30_000;

function rssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match![1]) * 1024;
}

interface BadOutcome {
  kind: BadKind;
  expected: Expected;
  got: ServerMessage | undefined;
}

/** One well-behaved agent: handshake, ack any list, ping round trip, close; again until `until`. */
async function wellBehaved(port: number, localAddress: string, guid: string, until: number): Promise<{ served: number; failures: string[] }> {
  let served = 0;
  const failures: string[] = [];
  while (Date.now() < until) {
    const started = Date.now();
    try {
      const sock = await connectFramed({ host: '127.0.0.1', port, timeoutMs: CLIENT_DEADLINE_MS, localAddress });
      sock.send({ type: 'hello', version: PROTOCOL_VERSION, guid, hosts: [], algorithm: '' });
      const welcome = await nextMessage(sock, CLIENT_DEADLINE_MS);
      if (welcome.type !== 'welcome') throw new Error(`got ${JSON.stringify(welcome)}`);
      sock.send({ type: 'ping' });
      for (;;) {
        const next = await nextMessage(sock, CLIENT_DEADLINE_MS);
        if (next.type === 'hosts') sock.send({ type: 'ack', seq: next.seq, ok: true });
        else if (next.type === 'pong') break;
        else if (next.type !== 'ping') throw new Error(`got ${JSON.stringify(next)}`);
      }
      sock.destroy();
      served++;
    } catch (error) {
      failures.push(`${guid}: ${(error as Error).message}`);
    }
    // Pacing, not synchronisation: at most 10 handshakes per second per agent, half its rate limit.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 100 - (Date.now() - started))));
  }
  return { served, failures };
}

async function badClients(server: ServerProcess, random: () => number, until: number, outcomes: BadOutcome[]): Promise<void> {
  const one = async (): Promise<void> => {
    const kind = BAD_KINDS[randomInt(random, BAD_KINDS.length)]!;
    const from = `127.0.${2 + randomInt(random, 8)}.${1 + randomInt(random, 250)}`;
    const input =
      kind === 'drip'
        ? { bytes: helloFrame('drip'), expected: { code: 'handshake_timeout', message: `no hello within ${LIMITS.handshakeTimeoutMs} ms` } }
        : badInput(kind, random, LIMITS);
    const result = await runBadClient(server.agentPort, from, input.bytes, {
      deadlineMs: CLIENT_DEADLINE_MS,
      ...(kind === 'drip' ? { dripMs: LIMITS.handshakeTimeoutMs / 8 } : {}),
    });
    outcomes.push({ kind, expected: input.expected, got: result.first });
  };
  const worker = async (): Promise<void> => {
    while (Date.now() < until) await one();
  };
  await Promise.all(Array.from({ length: BAD_CONCURRENCY }, worker));
}

/** Every second, FLOOD_SIZE connections at once from 127.0.0.2 that never say hello. */
async function floods(server: ServerProcess, until: number, seen: ServerMessage[]): Promise<void> {
  while (Date.now() < until) {
    const started = Date.now();
    const results = await Promise.all(
      Array.from({ length: FLOOD_SIZE }, () => runBadClient(server.agentPort, '127.0.0.2', Buffer.alloc(0), { deadlineMs: CLIENT_DEADLINE_MS })),
    );
    for (const result of results) if (result.first !== undefined) seen.push(result.first);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 1_000 - (Date.now() - started))));
  }
}

t.test(`server fuzz for ${SECONDS} s`, async (t) => {
  t.comment(`seed ${SEED} (AGENTLB_FUZZ_SEED=${SEED} replays the bad inputs)`);
  const random = prng(SEED);
  const server = await startServerProcess(
    t,
    [
      '--data-dir',
      t.testdir(),
      '--handshake-timeout',
      String(LIMITS.handshakeTimeoutMs / 1000),
      '--max-frame',
      String(LIMITS.maxFrame),
      '--max-write-buffer',
      '65536',
      // The slow consumers' `disconnected` lines are awaited below: at info, beyond 100 such
      // lines a second (the well-behaved agents' reconnects) they are only counted.
      '--log-level',
      'debug',
      '--close-grace',
      '0.5',
      '--rate-limit-loopback',
      '--max-connection-rate',
      String(RATE),
      '--connection-burst',
      String(BURST),
      '--max-handshakes',
      '1000',
    ],
    cleanEnv(),
  );
  const pid = server.child.pid!;
  // Warm up (first handshakes load code paths), then take the baseline.
  await wellBehaved(server.agentPort, '127.0.1.100', 'warm-up', Date.now() + 300);
  const baseline = rssBytes(pid);
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, rssBytes(pid))), 100);
  t.teardown(() => clearInterval(sampler));

  const until = Date.now() + SECONDS * 1000;
  const outcomes: BadOutcome[] = [];
  const floodAnswers: ServerMessage[] = [];
  const slowConsumers = Array.from({ length: Math.max(1, Math.floor(SECONDS / 20)) }, (_, i) =>
    runSlowConsumer(server.agentPort, `127.0.10.${i + 1}`, `slow-${i}`, CLIENT_DEADLINE_MS + SECONDS * 1000),
  );
  const [good] = await Promise.all([
    Promise.all(Array.from({ length: GOOD_AGENTS }, (_, i) => wellBehaved(server.agentPort, `127.0.1.${i + 1}`, `good-${i}`, until))),
    badClients(server, random, until, outcomes),
    floods(server, until, floodAnswers),
  ]);
  const slowPorts = await Promise.all(slowConsumers);
  clearInterval(sampler);
  peak = Math.max(peak, rssBytes(pid));

  // Every well-behaved handshake was served.
  const failures = good.flatMap((agent) => agent.failures);
  t.same(failures, [], 'no well-behaved handshake failed');
  t.ok(good.every((agent) => agent.served > 0), `served ${good.map((agent) => agent.served).join(', ')} handshakes`);

  // Every bad client got exactly the error its bytes call for.
  const wrong = outcomes.filter((o) => o.got?.type !== 'error' || o.got.code !== o.expected.code || o.got.message !== o.expected.message);
  t.same(wrong.slice(0, 5), [], `bad clients answered as the protocol prescribes (${wrong.length} not)`);
  const byKind = new Map<string, number>();
  for (const o of outcomes) byKind.set(`${o.kind} -> ${o.expected.code}`, (byKind.get(`${o.kind} -> ${o.expected.code}`) ?? 0) + 1);
  t.comment([...byKind].map(([key, count]) => `${key}: ${count}`).join('\n'));
  t.ok(outcomes.length >= BAD_CONCURRENCY, `${outcomes.length} bad clients`);

  // Floods: refused by the rate limit, or (admitted within the burst) timed out; nothing else.
  const rateMessage = 'too many new connections from 127.0.0.2 (limit 20 per second)';
  const floodWrong = floodAnswers.filter(
    (m) => !(m.type === 'error' && ((m.code === 'server_busy' && m.message === rateMessage) || m.code === 'handshake_timeout')),
  );
  t.same(floodWrong, [], 'flood connections got server_busy (rate) or handshake_timeout');
  t.ok(floodAnswers.some((m) => m.type === 'error' && m.code === 'server_busy'), 'the rate limit bit');

  // The agents that stopped reading were dropped for it.
  for (const port of slowPorts) {
    const line = await server.waitForLog((l) => l.event === 'disconnected' && l['remote'] === `127.0.10.${slowPorts.indexOf(port) + 1}:${port}`);
    t.equal(line['reason'], 'slow_consumer', `the agent on port ${port} that stopped reading was dropped as a slow consumer`);
  }

  // Alive, serving, and its memory bounded.
  const health = await fetch(`http://127.0.0.1:${server.adminPort}/healthz`);
  t.equal(health.status, 200, 'healthz');
  const after = await wellBehaved(server.agentPort, '127.0.1.200', 'after', Date.now() + 1);
  t.same(after, { served: 1, failures: [] }, 'a handshake after the storm');
  t.ok(peak - baseline < RSS_GROWTH_LIMIT, `RSS peak ${(peak / 2 ** 20).toFixed(1)} MiB, ${((peak - baseline) / 2 ** 20).toFixed(1)} MiB above the baseline (limit 64)`);
  t.equal(server.child.exitCode, null, 'still running');
});
