/**
 * `scale` (issue 12): one cluster-mode agentlb server on the bench's throwaway PostgreSQL with
 * a registry of N hosts (default 100 000), K of them held connected (the native hold client,
 * default 15 000: one process holds ~19 000 sockets), and one probe agent (scale/probe.ts)
 * pinging every 20 ms. Each step reports the longest silence the probe saw, whether it was
 * dropped, and the server's own longest event-loop delay (from /metrics), so a stall of the
 * machine (shared by other work: see the probe's own loop delay) can be told from ours.
 *
 * Registration goes in waves of connect, hello, welcome, close (the native client at
 * --concurrency), so the open-file limit never binds whatever N is. The `host` setting names
 * this server and two addresses nobody listens on, so roundrobin's rotation matters and a
 * drain of one of them changes every list without moving any agent.
 *
 * Steps, in order: restart (SIGTERM, start with N hosts: the time until it serves again, then
 * RSS, then the K agents reconnecting), a settings change every agent's list depends on, a
 * PostgreSQL kill -9 and restart (the resync), removing host 2 (an early host: every later
 * position shifts), 1 000 new registrations, a drain start (of another entry), GET /api/hosts.
 */
import http from 'node:http';
import { getMetrics, metricValue, putSettings, type AdminTarget } from '../admin-client';
import { MAX_AGENTS_PER_SERVER } from '../cluster';
import { withFleet, type HeldFleet } from '../fleet';
import { freePort, loopbackSources } from '../loopback';
import { runNativeClient } from '../native-client';
import { startPostgres, type TestPostgres } from '../postgres';
import { sampleProcess } from '../proc-stats';
import type { ScaleResult, ScaleStep, Verdict } from '../results';
import { Probe } from '../scale/probe-client';
import { removeDataDir, spawnAgentlbServer, type AgentlbProcess } from '../servers';
import { msBetween, type ScenarioContext } from './context';

/** issue 12's targets. */
const MAX_STALL_MS = 100;
const MAX_RESTART_MS = 5_000;
/** A fan-out is taken as done once no ack arrived for this long. */
const QUIET_MS = 1_500;
const NEW_REGISTRATIONS = 1_000;

function serverArgs(url: string): string[] {
  return ['--store', url, '--heartbeat-interval', '1', '--max-connections', String(MAX_AGENTS_PER_SERVER)];
}

/** node flags for the server: --cpu-prof when asked (the profile is written when it exits). */
function nodeArgs(ctx: ScenarioContext): string[] {
  const dir = ctx.opts.scale.cpuProfDir;
  return dir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', dir];
}

function adminOf(server: AgentlbProcess): AdminTarget {
  return { host: server.host, port: server.adminPort, token: server.adminToken };
}

/** The server's longest event-loop delay since the previous scrape (prom-client resets it), ms. */
async function serverLoopMaxMs(server: AgentlbProcess): Promise<number | undefined> {
  const seconds = metricValue(await getMetrics(adminOf(server)).catch(() => undefined), 'nodejs_eventloop_lag_max_seconds');
  return seconds === undefined ? undefined : Math.round(seconds * 10_000) / 10;
}

/** One admin call over plain HTTP, the body counted, not parsed (the bench must not stall the probe's figures either). */
function request(server: AgentlbProcess, method: string, path: string, body?: unknown): Promise<{ status: number; bytes: number; text: string }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      {
        host: server.host,
        port: server.adminPort,
        path,
        method,
        timeout: 120_000,
        headers: { authorization: `Bearer ${server.adminToken}`, ...(payload === undefined ? {} : { 'content-type': 'application/json' }) },
      },
      (res) => {
        let bytes = 0;
        let text = '';
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (text.length < 2_000) text += chunk.toString('utf8');
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, text }));
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within 120 s`)));
    req.end(payload);
  });
}

async function health(server: AgentlbProcess): Promise<{ store?: string; hosts?: number } | undefined> {
  const answer = await request(server, 'GET', '/healthz').catch(() => undefined);
  if (answer === undefined || answer.status !== 200) return undefined;
  return JSON.parse(answer.text) as { store?: string; hosts?: number };
}

async function until(what: string, check: () => Promise<boolean>, ms = 120_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`scale: ${what} not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Waits until no ack has arrived for QUIET_MS; returns the frames received since the mark. */
async function fanoutSettled(fleet: HeldFleet): Promise<{ frames: number; lastAckNs: bigint }> {
  let last = (await fleet.stats()).acked;
  let quietSince = Date.now();
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const stats = await fleet.stats();
    if (stats.acked !== last) {
      last = stats.acked;
      quietSince = Date.now();
    } else if (Date.now() - quietSince >= QUIET_MS) {
      return { frames: stats.hostsReceived, lastAckNs: stats.lastAckNs };
    }
  }
}

interface StepContext {
  server: () => AgentlbProcess;
  probe: Probe;
  fleet: HeldFleet;
}

/** Runs `action` as one measured step: probe window, server loop delay, the fan-out it caused. */
async function step(ctx: ScenarioContext, s: StepContext, name: string, action: () => Promise<string>): Promise<ScaleStep> {
  ctx.log(`scale: ${name}`);
  await serverLoopMaxMs(s.server()); // opens the server's window
  await s.probe.mark();
  const markNs = await s.fleet.mark();
  const detail = await action();
  const actionMs = msBetween(markNs, process.hrtime.bigint());
  const { frames, lastAckNs } = await fanoutSettled(s.fleet);
  const window = await s.probe.read();
  const result: ScaleStep = {
    name,
    probeSilenceMs: window.maxSilenceMs,
    probeDrops: window.drops,
    probeLoopMaxMs: window.probeLoopMaxMs,
    serverLoopMaxMs: await serverLoopMaxMs(s.server()),
    actionMs: Math.round(actionMs),
    lastAckMs: lastAckNs > markNs ? Math.round(msBetween(markNs, lastAckNs)) : undefined,
    framesToHeld: frames,
    detail,
  };
  ctx.log(`scale:   probe silence ${result.probeSilenceMs} ms, drops ${result.probeDrops}, server loop max ${result.serverLoopMaxMs} ms; ${detail}`);
  return result;
}

function verdictsOf(result: Omit<ScaleResult, 'verdicts'>): Verdict[] {
  const stalls = result.steps.filter((s) => !s.name.startsWith('restart:'));
  const worst = stalls.reduce((a, b) => (b.probeSilenceMs > a.probeSilenceMs ? b : a), stalls[0]!);
  const drops = stalls.reduce((sum, s) => sum + s.probeDrops, 0);
  const worstLoop = Math.max(...result.steps.map((s) => s.serverLoopMaxMs ?? 0));
  return [
    { target: `no probe silence above ${MAX_STALL_MS} ms (steps but the restart)`, measured: `${worst.probeSilenceMs} ms (${worst.name})`, met: worst.probeSilenceMs <= MAX_STALL_MS },
    { target: `server event loop never stalled above ${MAX_STALL_MS} ms`, measured: `${worstLoop} ms`, met: worstLoop <= MAX_STALL_MS },
    { target: 'the probe never dropped (but by the restart)', measured: `${drops} drops`, met: drops === 0 },
    { target: `a restart with ${result.hosts} hosts serves again within ${MAX_RESTART_MS / 1000} s`, measured: `${result.restartServesMs} ms`, met: result.restartServesMs <= MAX_RESTART_MS },
  ];
}

export async function runScale(ctx: ScenarioContext): Promise<ScaleResult> {
  const { hosts, connected } = ctx.opts.scale;
  const algorithm = ctx.opts.algorithm ?? 'roundrobin';
  const concurrency = ctx.opts.concurrency;
  const sources = loopbackSources(ctx.opts.sources);
  const notes: string[] = [];
  ctx.log(`scale: starting PostgreSQL and one agentlb server (cluster mode), ${algorithm}`);
  const pg: TestPostgres = await startPostgres();
  let server: AgentlbProcess | undefined;
  let probe: Probe | undefined;
  try {
    server = await spawnAgentlbServer({ extraArgs: serverArgs(pg.url), nodeArgs: nodeArgs(ctx) });
    const first = server;
    const self = `${first.host}:${first.port}`;
    const others = [`127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`];
    const list = { hosts: [self, ...others], algorithm, checkInterval: 0 };
    await putSettings(adminOf(first), { host: list.hosts.join(','), 'indirect.agent.lb.algorithm': algorithm, 'indirect.agent.lb.check.interval': 0 });
    const rssEmptyBytes = (await sampleProcess(first.pid)).rssBytes;

    const prefix = `scale-${Date.now()}-`;
    ctx.log(`scale: registering ${hosts} hosts (connect, hello, welcome, close; concurrency ${concurrency})`);
    const registered = await runNativeClient({ target: first, count: hosts, concurrency, sources, guidPrefix: prefix, until: 'welcome', timeoutMs: ctx.opts.timeoutMs });
    const registration = { ms: Math.round(registered.elapsedMs), rate: Math.round(registered.rate), errors: registered.errors };
    ctx.log(`scale: ${registered.ok} registered at ${registration.rate}/s (${registered.errors} errors)`);

    const fleetOpts = { client: 'native' as const, targets: [first], agents: connected, guidPrefix: prefix, list, opts: ctx.opts, progress: ctx.progress };
    let restartServesMs = 0;
    let rssWithHostsBytes = 0;
    const steps = await withFleet(fleetOpts, async (fleet) => {
      ctx.log(`scale: holding ${connected} of them connected, and the probe`);
      await fleet.up('hosts', 'scale: held agents');
      probe = Probe.start(first, `${prefix}probe`);
      await probe.connected();
      const s: StepContext = { server: () => server!, probe, fleet };
      const done: ScaleStep[] = [];

      done.push(
        await step(ctx, s, `restart: SIGTERM, start with ${hosts} hosts`, async () => {
          const old = server!;
          await old.stop('SIGTERM');
          await fleet.waitDropped(connected, 'scale: held agents dropped by the restart');
          const spawned = process.hrtime.bigint();
          server = await spawnAgentlbServer({ dataDir: old.dataDir, port: old.port, adminPort: old.adminPort, adminToken: old.adminToken, extraArgs: serverArgs(pg.url), nodeArgs: nodeArgs(ctx) });
          restartServesMs = Math.round(msBetween(spawned, process.hrtime.bigint()));
          await probe!.connected();
          rssWithHostsBytes = (await sampleProcess(server.pid)).rssBytes;
          return `serves again ${restartServesMs} ms after the spawn; ${(await health(server))?.hosts} hosts loaded`;
        }),
      );
      done.push(
        await step(ctx, s, `restart: ${connected} held agents reconnect`, async () => {
          const back = await fleet.up('welcome', 'scale: reconnect');
          return `${back.completed} back, ${back.lost} lost`;
        }),
      );
      done.push(
        await step(ctx, s, 'settings change: every list re-planned', async () => {
          const reordered = [self, others[1]!, others[0]!];
          await putSettings(adminOf(server!), { host: reordered.join(',') });
          return `host ${reordered.join(',')}`;
        }),
      );
      done.push(
        await step(ctx, s, 'PostgreSQL kill -9 and restart (resync)', async () => {
          const crashed = process.hrtime.bigint();
          await pg.crash();
          const upAgainMs = Math.round(msBetween(crashed, process.hrtime.bigint()));
          await until('the store available again', async () => (await health(server!))?.store === 'available');
          const availableMs = Math.round(msBetween(crashed, process.hrtime.bigint()));
          // The resync runs after the store is back; give it time inside this window.
          await new Promise((resolve) => setTimeout(resolve, 3_000));
          return `PostgreSQL up again after ${upAgainMs} ms, the server's store available after ${availableMs} ms`;
        }),
      );
      done.push(
        await step(ctx, s, 'DELETE /api/hosts/2?force=true (early host)', async () => {
          const started = process.hrtime.bigint();
          const answer = await request(server!, 'DELETE', '/api/hosts/2?force=true');
          return `${answer.status} in ${Math.round(msBetween(started, process.hrtime.bigint()))} ms: ${answer.text.trim().slice(0, 120)}`;
        }),
      );
      done.push(
        await step(ctx, s, `${NEW_REGISTRATIONS} new registrations`, async () => {
          const burst = await runNativeClient({ target: server!, count: NEW_REGISTRATIONS, concurrency, sources, guidPrefix: `${prefix}new-`, until: 'hosts', timeoutMs: ctx.opts.timeoutMs });
          return `${burst.ok} registered at ${Math.round(burst.rate)}/s, p99 ${burst.latencyMs.p99} ms, ${burst.errors} errors`;
        }),
      );
      done.push(
        await step(ctx, s, `drain start (of ${others[0]}, in every list)`, async () => {
          const answer = await request(server!, 'POST', '/api/servers/drain', { address: others[0] });
          return `${answer.status}: ${answer.text.trim().slice(0, 120)}`;
        }),
      );
      done.push(
        await step(ctx, s, 'GET /api/hosts (the whole fleet)', async () => {
          const started = process.hrtime.bigint();
          const answer = await request(server!, 'GET', '/api/hosts');
          return `${answer.status}, ${(answer.bytes / 1024 / 1024).toFixed(1)} MB in ${Math.round(msBetween(started, process.hrtime.bigint()))} ms`;
        }),
      );
      return done;
    });
    const withHosts = hosts + NEW_REGISTRATIONS;
    if (ctx.opts.scale.connected < 2) notes.push('fewer than 2 held agents: fan-out figures are not meaningful');
    const partial = {
      scenario: 'scale' as const,
      hosts,
      connected,
      algorithm,
      registration,
      restartServesMs,
      rssEmptyBytes,
      rssWithHostsBytes,
      rssPerHostBytes: Math.round((rssWithHostsBytes - rssEmptyBytes) / hosts),
      steps,
      notes: [...notes, `the registry ends with ${withHosts} hosts (+ the probe); RSS with hosts is measured right after the restart, before the held agents reconnect`],
    };
    return { ...partial, verdicts: verdictsOf(partial) };
  } finally {
    probe?.close();
    if (server !== undefined) {
      await server.stop();
      await removeDataDir(server.dataDir);
    }
    await pg.stop();
  }
}
