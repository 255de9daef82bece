/**
 * Graceful drain end to end, in cluster mode: PostgreSQL, three agentlb servers sharing it
 * (in process, real sockets) and 24 real agents (agent/) spread by `balanced`. Draining M1
 * through M2's API moves M1's agents to the others at the rate asked, loses none, and leaves
 * no survivor above its planned share (the plan's load after losing M1) by more than one
 * host; a new agent tried at M1 is refused with `draining` and lands on its next entry;
 * undrain (through M3) and the agents' preferred-host checks bring everyone home.
 *
 * Waits on cross-server facts (every agent on its first entry, M1 empty) poll with a
 * deadline: no single event says a fleet has settled.
 */
import t, { type Test } from 'tap';
import { firstChoiceLoads, loadsAfterFailure, planLists, type PlanLists } from '../../src/lb/plan-stats';
import { balanced } from '../../src/lb/index';
import { SETTING_ALGORITHM, SETTING_CHECK_INTERVAL, SETTING_HOST } from '../../src/settings/types';
import { makeAgent, type TestAgent } from '../agent/harness';
import { startMember, type Member } from '../cluster/cluster-helpers';
import { pollUntil } from '../helpers/pg-store-fixtures';
import { startPostgres } from '../../native-bench/postgres';
import { api, nextEvent } from '../helpers/server';

const AGENTS = 24;
const RATE = 4;
const SETTLE_MS = 30_000;

interface FleetAgent extends TestAgent {
  guid: string;
  hostId?: number;
}

async function startAgent(t: Test, guid: string, host: string): Promise<FleetAgent> {
  const made: FleetAgent = Object.assign(await makeAgent(t, `host=${host}\nguid=${guid}\n`), { guid });
  made.agent.on('connected', ({ hostId }) => (made.hostId = hostId));
  return made;
}

/** For a failure message: the agents not (yet) where the plan puts them. */
function unsettled(agents: readonly FleetAgent[], plan: (ids: number[]) => PlanLists): string[] {
  const lists = plan(agents.flatMap((a) => (a.hostId === undefined ? [] : [a.hostId])));
  return agents
    .filter((a) => a.hostId === undefined || a.agent.currentServer !== lists.get(a.hostId)![0] || a.agent.hosts.join(',') !== lists.get(a.hostId)!.join(','))
    .map((a) => `${a.guid} #${a.hostId}: on ${a.agent.currentServer}, holds ${a.agent.hosts.join(',')}, planned ${a.hostId === undefined ? '?' : lists.get(a.hostId)!.join(',')}`);
}

/** Every agent on the first entry of the list the plan gives its host id. */
function settled(agents: readonly FleetAgent[], plan: (ids: number[]) => PlanLists): boolean {
  if (agents.some((a) => a.hostId === undefined)) return false;
  const lists = plan(agents.map((a) => a.hostId!));
  return agents.every((a) => {
    const planned = lists.get(a.hostId!)!;
    return a.agent.currentServer === planned[0] && a.agent.hosts.join(',') === planned.join(',');
  });
}

t.test('draining one of three cluster servers', async (t) => {
  const pg = await startPostgres();
  t.teardown(() => pg.stop());

  await t.test('moves its agents at the rate, none lost, within the plan; undrain brings them back', async (t) => {
    const url = await pg.database();
    const members: Member[] = [await startMember(t, url), await startMember(t, url), await startMember(t, url)];
    const [m1, m2, m3] = members as [Member, Member, Member];
    const servers = members.map((m) => `127.0.0.1:${m.agentPort}`);
    const [M1, M2, M3] = servers as [string, string, string];
    await m1.controller.updateSettings({ [SETTING_HOST]: servers.join(','), [SETTING_ALGORITHM]: 'balanced', [SETTING_CHECK_INTERVAL]: 0 });
    // Every server must serve the new settings before an agent may meet it.
    t.ok(await pollUntil(async () => members.every((m) => m.controller.current().settings[SETTING_HOST] === servers.join(',')), 10_000));

    const plan = (ids: number[]): PlanLists => planLists(balanced, servers, ids);
    const agents: FleetAgent[] = [];
    for (let i = 0; i < AGENTS; i++) agents.push(await startAgent(t, `agent-${i}`, servers.join(',')));
    for (const { agent } of agents) agent.start();
    // All register through M1, their first entry, and stay there (no preferred-host checks yet)
    // while each new host re-plans the zone; every server must know every host.
    const registered = (): boolean => {
      if (agents.some((a) => a.hostId === undefined) || members.some((m) => m.controller.registeredHosts !== AGENTS)) return false;
      const lists = plan(agents.map((a) => a.hostId!));
      return agents.every((a) => a.agent.hosts.join(',') === lists.get(a.hostId!)!.join(','));
    };
    t.ok(await pollUntil(async () => registered(), SETTLE_MS), 'every agent registered and holding its balanced list', { unsettled: unsettled(agents, plan) });
    // Then checks on: each agent moves to its first entry, with a plan that no longer changes.
    await m1.controller.updateSettings({ [SETTING_CHECK_INTERVAL]: 1 });
    t.ok(await pollUntil(async () => settled(agents, plan), SETTLE_MS), 'every agent on the first entry of its balanced list', { unsettled: unsettled(agents, plan) });

    const before = plan(agents.map((a) => a.hostId!));
    const first = firstChoiceLoads(before);
    // An agent counts itself moved once its new connection is up (make-before-break); the
    // server it left counts it until that close reaches it, a moment later at load.
    const planned = servers.map((s) => first.get(s)).join(',');
    await pollUntil(async () => members.map((m) => m.agentCount).join(',') === planned, SETTLE_MS);
    t.same(
      members.map((m) => m.agentCount),
      servers.map((s) => first.get(s)),
      `each server holds its planned first-choice load (${servers.map((s) => first.get(s)).join('/')})`,
    );
    const onM1 = m1.agentCount;
    const share = loadsAfterFailure(before, new Set([M1]));

    const handedOver: number[] = [];
    m1.events.on('handedOver', (event) => handedOver.push(event.at));
    const drained = await api(m2, 'POST', '/api/servers/drain', { body: { address: M1, rate: RATE } });
    t.match(drained.body, { address: M1, rate: RATE, self: false, scope: 'cluster' }, 'asked of M2, about M1');

    // The counts too: a move is make-before-break, so an agent in mid-move counts on two servers.
    const empty = await pollUntil(
      async () =>
        m1.agentCount === 0 &&
        agents.every((a) => a.agent.currentServer === M2 || a.agent.currentServer === M3) &&
        m2.agentCount + m3.agentCount === AGENTS,
      SETTLE_MS,
    );
    t.ok(empty, 'M1 is empty and every agent is on M2 or M3');
    t.equal(handedOver.length, onM1, `M1 handed over each of its ${onM1} agents once`);
    for (const start of handedOver) {
      const inWindow = handedOver.filter((at) => at >= start && at < start + 1000).length;
      t.ok(inWindow <= RATE, `at most ${RATE} in the second from ${start.toFixed(0)} ms (got ${inWindow})`);
    }
    t.equal(m2.agentCount + m3.agentCount, AGENTS, 'none lost: every agent connected somewhere');
    for (const [member, address] of [[m2, M2], [m3, M3]] as const) {
      t.ok(member.agentCount <= share.get(address)! + 1, `${address} holds ${member.agentCount}, planned ${share.get(address)} after losing M1`);
    }
    t.ok(await pollUntil(async () => agents.every((a) => a.agent.hosts.at(-1) === M1), 10_000), 'every list puts M1 last, whichever server sent it', {
      notLast: agents.filter((a) => a.agent.hosts.at(-1) !== M1).map((a) => `${a.guid} on ${a.agent.currentServer}: ${a.agent.hosts.join(',')}`),
    });
    t.match((await api(m3, 'GET', '/api/servers/drain')).body, { scope: 'cluster', self: M3, draining: [{ address: M1, rate: RATE, self: false }] });
    t.match((await api(m1, 'GET', '/api/servers/drain')).body, { self: M1, handover: { active: true, agents: 0, handedOver: onM1 } });

    // A new agent whose list starts with M1 is refused there and lands on its next entry.
    const refusedAtM1 = nextEvent(m1.events, 'handshake', (event) => event.result === 'draining');
    const late = await startAgent(t, 'late', `${M1},${M2},${M3}`);
    const landed = new Promise<string>((resolve) => late.agent.once('connected', ({ server }) => resolve(server)));
    late.agent.start();
    await refusedAtM1;
    t.equal(await landed, M2, 'refused with draining at M1, welcomed by its next entry');
    agents.push(late);

    const undrained = await api(m3, 'POST', '/api/servers/undrain', { body: { address: M1 } });
    t.match(undrained.body, { address: M1, wasDraining: true, scope: 'cluster' });
    t.ok(await pollUntil(async () => settled(agents, plan), SETTLE_MS), 'preferred-host checks bring every agent back to its first entry', {
      unsettled: unsettled(agents, plan),
    });
    const after = firstChoiceLoads(plan(agents.map((a) => a.hostId!)));
    t.equal(m1.agentCount, after.get(M1), `M1 holds its planned ${after.get(M1)} again`);
    t.ok(m1.agentCount > 0);
  });
});
