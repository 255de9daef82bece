/**
 * Flap damping end to end: two scripted servers that each name the other as preferred (as
 * servers on their own embedded stores would). The check's timer and the damper's clock are
 * injected: each timed check is seen with its delay, and fired by the test after moving a
 * virtual clock by that delay, so the asserted delays and switch times are exact.
 */
import t, { type Test } from 'tap';
import type { CheckTimer } from '../../agent/preferred-check';
import type { Hello } from '../../src/protocol/messages';
import { makeAgent, next } from './harness';
import { serveScripted, welcome, type ScriptedServer } from './scripted-server';

interface Timed {
  delayMs: number;
  fire: () => void;
  cleared: boolean;
}

/**
 * A check timer the test drives: `timed()` resolves with the next check timed and not cleared
 * (damping may re-time a check once the landing server's list is in); `delays` are those of
 * the timers that were not cleared.
 */
function virtualTimer(): CheckTimer & { timed(): Promise<Timed>; readonly delays: number[] } {
  const queue: Timed[] = [];
  const waiters: Array<(timed: Timed) => void> = [];
  const all: Timed[] = [];
  return {
    get delays() {
      return all.filter((timed) => !timed.cleared).map((timed) => timed.delayMs);
    },
    set(fire, delayMs) {
      const timed: Timed = { delayMs, fire, cleared: false };
      all.push(timed);
      const waiter = waiters.shift();
      if (waiter) waiter(timed);
      else queue.push(timed);
      return timed;
    },
    clear(handle) {
      (handle as Timed).cleared = true;
    },
    timed: () => {
      while (queue[0]?.cleared) queue.shift();
      const queued = queue.shift();
      return queued ? Promise.resolve(queued) : new Promise((resolve) => waiters.push(resolve));
    },
  };
}

const addr = (server: ScriptedServer): string => `127.0.0.1:${server.port}`;

/** A server that names `first` as the preferred one whenever a hello says otherwise. */
async function disagreeing(t: Test, list: () => string[]): Promise<ScriptedServer> {
  return serveScripted(t, {
    onMessage: (conn, m) => {
      if (m.type !== 'hello') return;
      conn.send(welcome(60_000));
      const mine = list();
      if ((m as Hello).hosts.join() !== mine.join()) conn.send({ type: 'hosts', seq: 1, hosts: mine, algorithm: 'static', checkInterval: 1 });
    },
  });
}

t.test('servers naming each other first: a bounded number of switches, then the check backs off, and resets', async (t) => {
  let a: ScriptedServer | undefined;
  let b: ScriptedServer | undefined;
  a = await disagreeing(t, () => [addr(b!), addr(a!)]);
  b = await disagreeing(t, () => [addr(a!), addr(b!)]);
  const A = addr(a);
  const B = addr(b);
  const clock = { now: 0 };
  const timer = virtualTimer();
  // intervalUnitMs 50 (FAST): a check interval of 1 is 50 ms, the window 500 ms; random 0.5: no jitter.
  const { agent, logs } = await makeAgent(t, `host=${A},${B}\nguid=g\n`, { now: () => clock.now, checkTimer: timer, random: () => 0.5 });
  const flapping: unknown[] = [];
  agent.on('flapping', (f) => flapping.push(f));
  agent.start();
  t.equal((await next(agent, 'connected')).server, A);

  const switches: Array<{ at: number; to: string }> = [];
  const checkOnce = async (): Promise<void> => {
    const timed = await timer.timed();
    clock.now += timed.delayMs;
    const switched = next(agent, 'switched');
    // The landing server's list (naming the other first) is the verdict: wait for it.
    const verdict = next(agent, 'hostsUpdated');
    timed.fire();
    switches.push({ at: clock.now, to: (await switched).to });
    await verdict;
  };
  for (let i = 0; i < 7; i += 1) await checkOnce();

  t.same(
    switches,
    [
      { at: 50, to: B },
      { at: 100, to: A },
      { at: 150, to: B },
      { at: 250, to: A },
      { at: 450, to: B },
      { at: 850, to: A },
      { at: 1_650, to: B },
    ],
    'three switches within the window, then one per doubled interval',
  );
  const pending = await timer.timed();
  t.same(timer.delays, [50, 50, 50, 100, 200, 400, 800, 800], 'normal, then 2x, 4x, 8x, capped at 16x');
  t.same(flapping, [{ servers: [A, B], switches: 3, windowMs: 500, factor: 2 }], 'one flapping episode');
  const warnings = logs.filter((l) => l.level === 40 && l.msg.includes('disagree'));
  t.equal(warnings.length, 1, 'one warning');
  t.equal(
    warnings[0]?.msg,
    `preferred-host check moved this agent 3 times within 500 ms between ${A}, ${B}: the servers disagree about its list ` +
      '(are they sharing one registry? see README "Cluster mode"); backing the check off to 2x its interval, ' +
      'doubling on each further switch (failover after a drop is unaffected)',
  );

  // B, the server the agent is on, comes to agree: it names itself first. Damping ends at once.
  const onB = b.connections[b.connections.length - 1]!;
  const calmed = next(agent, 'calmed');
  onB.send({ type: 'hosts', seq: 2, hosts: [B, A], algorithm: 'static', checkInterval: 1 });
  t.same(await calmed, { reason: 'server_agrees' });
  t.equal(pending.cleared, true, 'on its preferred server: the backed-off check is cancelled');
  // ... and a later disagreement is checked at the normal interval again, not 16x.
  onB.send({ type: 'hosts', seq: 3, hosts: [A, B], algorithm: 'static', checkInterval: 1 });
  t.equal((await timer.timed()).delayMs, 50);
});

t.test('failover after a drop is never damped', async (t) => {
  let a: ScriptedServer | undefined;
  let b: ScriptedServer | undefined;
  a = await disagreeing(t, () => [addr(b!), addr(a!)]);
  b = await disagreeing(t, () => [addr(a!), addr(b!)]);
  const clock = { now: 0 };
  const timer = virtualTimer();
  const { agent } = await makeAgent(t, `host=${addr(a)},${addr(b)}\nguid=g\n`, { now: () => clock.now, checkTimer: timer, random: () => 0.5 });
  agent.start();
  await next(agent, 'connected');
  for (let i = 0; i < 4; i += 1) {
    const timed = await timer.timed();
    clock.now += timed.delayMs;
    const switched = next(agent, 'switched');
    const verdict = next(agent, 'hostsUpdated');
    timed.fire();
    await switched;
    await verdict;
  }
  t.equal(agent.currentServer, addr(a));
  const reconnected = next(agent, 'connected');
  a.connections[a.connections.length - 1]!.socket.destroy();
  t.equal((await reconnected).server, addr(b), 'the drop is followed by a reconnect as always');
});

t.test('three restarts of the preferred server, every server sending the same list: failbacks, never flapping', async (t) => {
  let p: ScriptedServer | undefined;
  let q: ScriptedServer | undefined;
  let pDown = false;
  const list = (): string[] => [addr(p!), addr(q!)];
  const agreeing = (isP: boolean) => ({
    onMessage: (conn: Parameters<NonNullable<Parameters<typeof serveScripted>[1]['onMessage']>>[0], m: { type: string }) => {
      if (m.type !== 'hello') return;
      if (isP && pDown) return conn.send({ type: 'error', code: 'shutting_down', message: 'restarting' });
      conn.send(welcome(60_000));
      if ((m as Hello).hosts.join() !== list().join()) conn.send({ type: 'hosts', seq: 1, hosts: list(), algorithm: 'static', checkInterval: 1 });
    },
  });
  p = await serveScripted(t, agreeing(true));
  q = await serveScripted(t, agreeing(false));
  const P = addr(p);
  const Q = addr(q);
  const clock = { now: 0 };
  const timer = virtualTimer();
  const { agent, logs } = await makeAgent(t, `host=${P},${Q}\nguid=g\nhost.lb.check.interval=1\n`, {
    now: () => clock.now,
    checkTimer: timer,
    random: () => 0.5,
  });
  const flapping: unknown[] = [];
  agent.on('flapping', (f) => flapping.push(f));
  agent.start();
  t.equal((await next(agent, 'connected')).server, P);
  for (let restart = 1; restart <= 3; restart += 1) {
    // P restarts: it says so, and refuses while it is down; the agent fails over to Q.
    pDown = true;
    const onQ = next(agent, 'connected');
    p.connections[p.connections.length - 1]!.send({ type: 'error', code: 'shutting_down', message: 'restarting' });
    t.equal((await onQ).server, Q, `restart ${restart}: failed over to Q`);
    pDown = false;
    // Back: the next check (a normal interval, never backed off) moves the agent home.
    const timed = await timer.timed();
    t.equal(timed.delayMs, 50, `restart ${restart}: the check runs at the normal interval`);
    clock.now += timed.delayMs;
    const switched = next(agent, 'switched');
    timed.fire();
    t.same(await switched, { from: Q, to: P });
  }
  t.same(flapping, [], 'three failbacks within the window: no flapping');
  t.equal(logs.filter((l) => l.msg.includes('disagree')).length, 0, 'no warning');
});
