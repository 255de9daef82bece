/**
 * A small fixed fleet for the planner's tests: one real server, hosts M1,M2,M3 with
 * roundrobin, six agents in zone `default` (ids 1..6) and two in zone `z2` (ids 7, 8), all
 * connected and holding the lists they were sent.
 */
import type { Test } from 'tap';
import { api, startTestServer, type TestServer } from '../helpers/server';
import { connectAgents, type TestAgent } from '../helpers/test-agent';

export interface PlanFleet {
  server: TestServer;
  agents: TestAgent[];
}

export async function startPlanFleet(t: Test): Promise<PlanFleet> {
  const server = await startTestServer(t);
  await api(server, 'PUT', '/api/settings', { body: { host: 'M1,M2,M3', 'indirect.agent.lb.algorithm': 'roundrobin' } });
  const main = await connectAgents(server.agentPort, ['H1', 'H2', 'H3', 'H4', 'H5', 'H6']);
  const other = await connectAgents(server.agentPort, ['H7', 'H8'], { zone: 'z2' });
  const agents = [...main, ...other];
  for (const { agent, hosts } of agents) agent.ack(hosts!);
  t.teardown(async () => {
    for (const { agent } of agents) await agent.close();
  });
  return { server, agents: agents.map(({ agent }) => agent) };
}
