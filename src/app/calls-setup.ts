/**
 * Wires calls (protocol 2) into a server: the CallService that calls this server's agents
 * (`server` in each line is this server's address) and, in cluster mode, the CallRouter that
 * carries calls for agents held by other servers through the store. The caller starts the
 * router once this server has joined the server registry.
 */
import type { Logger } from '../log';
import type { CallRequest } from '../server/calls/agent-calls';
import { CallService } from '../server/calls/call-service';
import { CallRouter, isCallCarrier } from '../server/calls/routed-calls';
import type { FleetConnections } from '../server/cluster/connections';
import type { ServerEvents } from '../server/events';
import type { AgentRegistry } from '../server/fleet/agent-registry';
import type { Fleet } from '../server/fleet/fleet';
import type { HostRecord, Store } from '../store/types';

export interface CallsSetupOptions {
  store: Store;
  fleet: Fleet;
  agents: AgentRegistry;
  connections: FleetConnections;
  events: ServerEvents;
  /** This server's registry address. */
  address: string;
  /** The largest frame a call's request may take (the connections' maxFrame). */
  maxFrame: number;
  logger: Logger;
}

export interface CallsSetup {
  readonly calls: CallService;
  /** Cluster mode only: carries calls for other servers' agents. */
  readonly router: CallRouter | undefined;
}

/** Host ids, of one zone or all, pulled one at a time (a fan-out holds only what is in flight). */
function* hostIdsOf(hosts: Iterable<HostRecord>, zone: string | undefined): Generator<number> {
  for (const host of hosts) if (zone === undefined || host.zone === zone) yield host.id;
}

export function setUpCalls(options: CallsSetupOptions): CallsSetup {
  const { store, fleet, agents, connections, events, address, logger } = options;
  const carrier = isCallCarrier(store) ? store : undefined;
  let runsHere: CallService | undefined;
  const router =
    carrier === undefined
      ? undefined
      : new CallRouter({
          carrier,
          address,
          runHere: (call) => runsHere!.callHere(call.hostId, { method: call.method, params: call.params as CallRequest['params'], timeoutMs: call.timeoutMs }, { address: call.caller ?? call.asker, via: call.asker }),
          onError: (error) => logger.warn({ err: (error as Error).message }, 'routed call: store error'),
        });
  const calls = new CallService({
    host: (id) => fleet.host(id),
    hostIds: (zone) => hostIdsOf(fleet.hosts(), zone),
    connection: (hostId) => agents.byHost(hostId),
    holderOf: (hostId) => connections.registry.holderOf(hostId),
    ...(router === undefined ? {} : { router }),
    events,
    serverName: address,
    maxFrame: options.maxFrame,
  });
  runsHere = calls;
  return { calls, router };
}
