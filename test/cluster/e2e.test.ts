/**
 * The seed's picture made real: PostgreSQL and three `agentlb server` processes M1, M2, M3
 * sharing it, and real agents (agent/agent.ts, in process) spread over them by roundrobin.
 * A settings change through M2 reaches the agents on M1 and M3; a host gets the same list
 * from any server; SIGKILL of M1 moves its agents to their second entries; a PostgreSQL
 * restart loses no setting and no host, and the servers catch up.
 *
 * Waits are on the agents' events; facts inside other processes that no event reports
 * (a host known there, the database noticed gone) are polled with a deadline.
 */
import t, { type Test } from 'tap';
import type { Agent, AgentEvents } from '../../agent/agent';
import type { ServerRecord } from '../../src/store/types';
import type { Settings } from '../../src/settings/types';
import { makeAgent } from '../agent/harness';
import { startServerProcess, type ServerProcess } from '../helpers/cli';
import { startPostgres } from '../../native-bench/postgres';
import { pollUntil, sql } from '../helpers/pg-store-fixtures';
import { api, TEST_TOKEN } from '../helpers/server';
import { TestAgent } from '../helpers/test-agent';
import { knowsHosts, storeBecomes } from './cluster-helpers';

const TOKEN = TEST_TOKEN;
const WAIT_MS = 30_000;

type Server = ServerProcess & { name: string; address: string; adminUrl: string };

async function startMember(t: Test, name: string, url: string): Promise<Server> {
  const server = await startServerProcess(t, [
    '--store', url,
    '--admin-token', TOKEN,
    '--data-dir', t.testdir(),
    '--heartbeat-interval', '0.2',
    // Agents take three silent intervals as a dead server; a loaded machine must not fake one.
    '--ping-interval', '1',
  ]);
  return Object.assign(server, { name, address: `127.0.0.1:${server.agentPort}`, adminUrl: `http://127.0.0.1:${server.adminPort}` });
}

/** Resolves once `holds()` is true: checked now and after each of the agent's `events`. */
function when(agent: Agent, events: (keyof AgentEvents)[], holds: () => boolean, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const emitter = agent as unknown as NodeJS.EventEmitter;
    const check = (): void => {
      if (!holds()) return;
      done();
      resolve();
    };
    const done = (): void => {
      clearTimeout(timer);
      for (const event of events) emitter.off(event, check);
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`${what}: not within ${WAIT_MS} ms (on ${agent.currentServer}, list ${agent.hosts.join(',')})`));
    }, WAIT_MS);
    for (const event of events) emitter.on(event, check);
    check();
  });
}

/** The next `hostsUpdated` of `agent` carrying `checkInterval`. */
function nextInterval(agent: Agent, checkInterval: number): Promise<AgentEvents['hostsUpdated'][0]> {
  return new Promise((resolve, reject) => {
    const emitter = agent as unknown as NodeJS.EventEmitter;
    const listener = (update: AgentEvents['hostsUpdated'][0]): void => {
      if (update.checkInterval !== checkInterval) return;
      clearTimeout(timer);
      emitter.off('hostsUpdated', listener);
      resolve(update);
    };
    const timer = setTimeout(() => reject(new Error(`no hosts update with interval ${checkInterval}`)), WAIT_MS);
    emitter.on('hostsUpdated', listener);
  });
}

const rotate = (list: readonly string[], by: number): string[] => [...list.slice(by % list.length), ...list.slice(0, by % list.length)];

t.test('three servers on one PostgreSQL', async (t) => {
  const pg = await startPostgres();
  t.teardown(() => pg.stop());
  const m1 = await startMember(t, 'M1', pg.url);
  const m2 = await startMember(t, 'M2', pg.url);
  const m3 = await startMember(t, 'M3', pg.url);
  const servers = [m1, m2, m3];
  const list = servers.map((s) => s.address);
  const byAddress = new Map(servers.map((s) => [s.address, s.name]));
  const names = (addresses: readonly string[] | undefined): string => (addresses ?? []).map((a) => byAddress.get(a) ?? a).join(',');
  const auth = { token: TOKEN };

  const roundrobin: Partial<Settings> = { host: list.join(','), 'indirect.agent.lb.algorithm': 'roundrobin', 'indirect.agent.lb.check.interval': 1 };
  t.equal((await api(m1, 'PUT', '/api/settings', { body: roundrobin, ...auth })).status, 200);

  // Six agents, all bootstrapped on M1 and registered one after another: ids 1..6 in order.
  const agents: Agent[] = [];
  for (let i = 1; i <= 6; i++) {
    const { agent } = await makeAgent(t, `host=${list.join(',')}\nguid=h${i}\n`);
    const registered = when(agent, ['hostsUpdated'], () => agent.hosts.length === 3 && agent.checkInterval === 1, `h${i} gets its list`);
    agent.start();
    await registered;
    agents.push(agent);
  }
  const expected = agents.map((_, i) => rotate(list, i));
  t.same(agents.map((a) => names(a.hosts)), ['M1,M2,M3', 'M2,M3,M1', 'M3,M1,M2', 'M1,M2,M3', 'M2,M3,M1', 'M3,M1,M2'], 'the seed example');

  t.test('agents spread over the servers by roundrobin', async (t) => {
    for (const server of servers) t.ok(await knowsHosts({ adminUrl: server.adminUrl }, ['h1', 'h2', 'h3', 'h4', 'h5', 'h6']), `${server.name} knows every host`);
    // With a check interval, each agent moves to its preferred (first) server.
    await Promise.all(
      agents.map((agent, i) =>
        when(agent, ['connected', 'hostsUpdated'], () => agent.currentServer === expected[i]![0] && names(agent.hosts) === names(expected[i]), `h${i + 1} on its preferred server`),
      ),
    );
    t.same(agents.map((a) => byAddress.get(a.currentServer!)), ['M1', 'M2', 'M3', 'M1', 'M2', 'M3']);
  });

  t.test('a settings change through M2 reaches the agents on M1 and M3', async (t) => {
    const updates = agents.map((agent) => nextInterval(agent, 2));
    const put = await api(m2, 'PUT', '/api/settings', { body: { 'indirect.agent.lb.check.interval': 2 }, ...auth });
    t.equal(put.status, 200);
    const received = await Promise.all(updates);
    for (const [i, update] of received.entries()) {
      t.same(names(update.hosts), names(expected[i]), `h${i + 1} (on ${byAddress.get(agents[i]!.currentServer!)}) got interval 2 with its list`);
    }
    // The acks are seen by each agent's own server (M1 for h1, M3 for h3 ...).
    const version = Number(JSON.parse(put.headers.get('etag')!));
    for (const [index, server] of [[0, m1], [2, m3]] as const) {
      t.ok(
        await pollUntil(async () => {
          const hosts = (await api(server, 'GET', '/api/hosts', auth)).body as { guid: string; lastSent: { seq: number } | null; acked: boolean | null }[];
          const host = hosts.find((h) => h.guid === `h${index + 1}`);
          return host?.lastSent?.seq === version && host.acked === true;
        }),
        `${server.name} saw h${index + 1} ack version ${version}`,
      );
    }
  });

  t.test('a host gets the same list from any server', async (t) => {
    const probes = ['p1', 'p2', 'p3'];
    for (const [i, guid] of probes.entries()) {
      // Ids must reach each server in order: a probe registered on M2 before M2 heard of p1's
      // lower id (NOTIFY is late on a loaded machine) is re-sent its corrected list once p1
      // arrives, a second `hosts` frame that handshake() rejects (seen: the list rotated by one).
      t.ok(await knowsHosts(servers[i]!, probes.slice(0, i)), `${servers[i]!.name} knows the probes before ${guid}`);
      const first = await TestAgent.connect(servers[i]!.agentPort); // registered on M1, M2, M3 in turn
      await first.handshake({ guid });
      await first.close();
    }
    for (const server of servers) t.ok(await knowsHosts(server, probes), `${server.name} knows the probes`);
    for (const [i, guid] of probes.entries()) {
      const lists: string[] = [];
      for (const server of servers) {
        const probe = await TestAgent.connect(server.agentPort);
        const { welcome, hosts } = await probe.handshake({ guid });
        t.equal(welcome.hostId, 7 + i, `${guid} is host ${7 + i} on ${server.name}`);
        lists.push(names(hosts?.hosts));
        await probe.close();
      }
      t.same(lists, Array(3).fill(names(rotate(list, 6 + i))), `${guid}: one list from M1, M2 and M3`);
    }
  });

  t.test('SIGKILL of M1 moves its agents to their second entries', async (t) => {
    const dropped: string[] = [];
    for (const [i, agent] of agents.entries()) agent.on('disconnected', () => dropped.push(`h${i + 1}`));
    const moved = [0, 3].map((i) => when(agents[i]!, ['connected'], () => agents[i]!.currentServer === m2.address, `h${i + 1} on M2`));
    m1.child.kill('SIGKILL');
    await m1.exited;
    await Promise.all(moved);
    t.same(agents.map((a) => byAddress.get(a.currentServer!)), ['M2', 'M2', 'M3', 'M2', 'M2', 'M3'], 'h1 and h4 on their second entry, M2');
    t.same(dropped.sort(), ['h1', 'h4'], 'no other agent noticed');
    t.ok(
      await pollUntil(async () => ((await api(m3, 'GET', '/api/servers', auth)).body as ServerRecord[]).find((s) => s.address === m1.address)?.up === false),
      'the registry lists M1 down',
    );
    const registry = [...list].sort().map((address) => ({ address, up: address !== m1.address }));
    t.match((await api(m3, 'GET', '/api/servers', auth)).body, registry, 'listed by address, M2 and M3 up');
  });

  t.test('a PostgreSQL restart loses nothing, and the servers catch up', async (t) => {
    const live = [m2, m3];
    const before = await Promise.all(live.map(async (s) => [(await api(s, 'GET', '/api/settings', auth)).body, (await api(s, 'GET', '/api/hosts', auth)).body]));
    const versionBefore = Number(JSON.parse((await api(m3, 'GET', '/api/settings', auth)).headers.get('etag')!));
    const guids = (hosts: unknown): string[] => (hosts as { guid: string }[]).map((h) => h.guid).sort();
    const dropped: string[] = [];
    for (const [i, agent] of agents.entries()) agent.on('disconnected', () => dropped.push(`h${i + 1}`));

    await pg.restart(async () => {
      for (const server of live) t.ok(await storeBecomes(server, 'unavailable'), `${server.name} noticed the database gone`);
      const refused = await api(m3, 'PUT', '/api/settings', { body: { 'indirect.agent.lb.check.interval': 5 }, ...auth });
      t.same([refused.status, typeof (refused.body as { error?: unknown }).error], [503, 'string'], 'changes are refused with 503');
    });
    t.same(dropped, [], 'no agent was dropped by the outage');

    // Changed as soon as M3 is back; M2 may still be reconnecting: it catches up either way.
    const updates = agents.map((agent) => nextInterval(agent, 3));
    t.ok(await storeBecomes(m3, 'available'), 'M3 reconnected');
    const put = await api(m3, 'PUT', '/api/settings', { body: { 'indirect.agent.lb.check.interval': 3 }, ...auth });
    t.equal(put.status, 200);
    // Merged into what the database kept: the other settings and the version survived.
    t.equal(Number(JSON.parse(put.headers.get('etag')!)), versionBefore + 1, 'the next version after the one before the restart');
    await Promise.all(updates);
    t.pass('the change made after the restart reached all six agents, on M2 and M3');
    t.ok(await storeBecomes(m2, 'available'), 'M2 reconnected');

    for (const [i, server] of live.entries()) {
      const [settings, hosts] = before[i]!;
      t.same((await api(server, 'GET', '/api/settings', auth)).body, { ...(settings as Settings), 'indirect.agent.lb.check.interval': 3 }, `${server.name}: no setting lost`);
      t.same(guids((await api(server, 'GET', '/api/hosts', auth)).body), guids(hosts), `${server.name}: no host lost`);
    }
    t.same(
      (await sql<{ guid: string }>(pg.url, 'SELECT guid FROM hosts ORDER BY id')).map((r) => r.guid),
      ['h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'p1', 'p2', 'p3'],
      'the database holds every host, in id order',
    );
  });
});
