/**
 * The command table loads a command's module only when that command runs: client commands
 * and `--help` must not load the server (pg, piscina, prom-client, pino, the listener, which
 * reads /proc/self/limits at import). Real processes on dist/ (`npx tsc -p tsconfig.build.json`).
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { COMMAND_LOADERS, COMMANDS, mainUsage } from '../../src/cli/main';
import { CLI_PATH } from '../helpers/cli';

const ROOT = path.join(__dirname, '..', '..');

/** Runs the built CLI's runCli(args) in a fresh node and returns its exit code and the modules it loaded, relative to the repo. */
async function loadedModules(args: string[]): Promise<{ code: number; loaded: string[] }> {
  const script = `
    const { runCli } = require(${JSON.stringify(CLI_PATH)});
    runCli(${JSON.stringify(args)}, { out() {}, err() {}, env: {} }).then((code) => {
      process.stdout.write(JSON.stringify({ code, loaded: Object.keys(require.cache) }));
    });`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  await once(child, 'close');
  const result = JSON.parse(stdout) as { code: number; loaded: string[] };
  return { code: result.code, loaded: result.loaded.map((file) => path.relative(ROOT, file)) };
}

/** The project's runtime packages (pg, piscina, prom-client, pino, ...); the test runner's own hooks are not ours. */
const PACKAGES = Object.keys((JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies);

/** What a client command has no business loading: our packages, any server module, the daemon (src/app). */
const serverSide = (file: string) =>
  PACKAGES.some((name) => file.startsWith(path.join('node_modules', name) + path.sep)) ||
  file.startsWith(path.join('dist', 'src', 'server') + path.sep) ||
  file.startsWith(path.join('dist', 'src', 'app') + path.sep);

t.test('client commands and help load none of the server', async (t) => {
  for (const args of [['--help'], ['settings', '--help'], ['hosts', '--help'], ['settings', 'get', '--bogus']]) {
    const { code, loaded } = await loadedModules(args);
    t.equal(code, args.includes('--bogus') ? 2 : 0, `${args.join(' ')} exit code`);
    t.ok(loaded.includes(path.join('dist', 'src', 'cli', 'main.js')), 'the probe saw the CLI load');
    t.same(loaded.filter(serverSide), [], `agentlb ${args.join(' ')} loads no server module or package`);
  }
  const top = await loadedModules(['--help']);
  t.same(top.loaded.filter((file) => /-command\.js$/.test(file)), [], '--help loads no command module');
});

t.test('ca commands load PostgreSQL only for revoke --store', async (t) => {
  const { code, loaded } = await loadedModules(['ca', '--help']);
  t.equal(code, 0);
  t.ok(loaded.includes(path.join('dist', 'src', 'cli', 'ca-command.js')), 'the probe saw the ca command load');
  t.same(loaded.filter((file) => file.startsWith(path.join('node_modules', 'pg') + path.sep) || file.includes(`${path.sep}store${path.sep}pg${path.sep}`)), [], 'no pg client, no store/pg module');
});

t.test('the server command does load the server (the probe can see it)', async (t) => {
  const { code, loaded } = await loadedModules(['server', '--help']);
  t.equal(code, 0);
  t.ok(loaded.includes(path.join('dist', 'src', 'server', 'net', 'listener.js')));
  t.ok(loaded.some(serverSide) && loaded.some((file) => file.startsWith(path.join('node_modules', 'prom-client') + path.sep)));
});

t.test("the table's names and summaries are the commands' own", async (t) => {
  t.same(COMMANDS.map((command) => command.name), Object.keys(COMMAND_LOADERS));
  for (const entry of COMMANDS) {
    const loaded = COMMAND_LOADERS[entry.name]!();
    t.same({ name: loaded.name, summary: loaded.summary }, { name: entry.name, summary: entry.summary }, entry.name);
    t.ok(mainUsage().includes(`  ${entry.name.padEnd(8)}  ${entry.summary}\n`), `--help lists ${entry.name}`);
  }
});
