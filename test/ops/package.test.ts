/**
 * What `npm pack` ships and that it installs: the tarball holds dist/src and dist/agent (the
 * built JavaScript, no source maps, tests, sources or agent binaries), README, LICENSE,
 * protocol.md and the systemd units, nothing else; `npm install -g` of it into a temp prefix
 * installs no dev dependency and gives working `agentlb` and `agentlb-agent` commands, a
 * server that starts. Real npm, real processes (npm's cache makes the install offline-fast).
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import t from 'tap';

const ROOT = path.join(__dirname, '..', '..');
const PACKAGE = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  devDependencies: Record<string, string>;
  dependencies: Record<string, string>;
};
const run = promisify(execFile);

// The .d.ts beside the JavaScript: the library entry points ('.' and './agent') ship their
// types (issue 14, package.json "types" and "exports").
const ALLOWED = [/^package\.json$/, /^README\.md$/, /^LICENSE$/, /^protocol\.md$/, /^systemd\/agentlb(-agent)?\.service$/, /^dist\/(src|agent)\/.+\.js$/, /^dist\/(src|agent)\/.+\.d\.ts$/];

t.test('the tarball holds the built JavaScript, the docs, the licence and the units, nothing else', async (t) => {
  // --ignore-scripts: pretest built dist/ already; prepack would rebuild it (tested below).
  const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, maxBuffer: 16 << 20 });
  const files = (JSON.parse(stdout) as [{ files: { path: string }[] }])[0].files.map((file) => file.path);
  t.same(files.filter((file) => !ALLOWED.some((pattern) => pattern.test(file))), [], 'nothing outside the list');
  for (const needed of ['README.md', 'LICENSE', 'protocol.md', 'systemd/agentlb.service', 'systemd/agentlb-agent.service', 'dist/src/cli/main.js', 'dist/agent/main.js']) {
    t.ok(files.includes(needed), needed);
  }
  t.notOk(files.some((file) => file.endsWith('.map') || (file.endsWith('.ts') && !file.endsWith('.d.ts')) || file.startsWith('dist/test') || file.includes('native-bench')), 'no maps, sources (declarations aside), tests or benchmarks');
  t.ok(files.includes('dist/src/app/index.d.ts') && files.includes('dist/agent/index.d.ts'), 'the types of both library entry points');
  t.notOk(files.some((file) => file.includes('agentlb-agent') && file.startsWith('dist/') && !file.endsWith('.js')), 'no agent binary');
});

t.test('scripts: prepack builds, prepare is gone (it needed dev dependencies), npm start builds first', async (t) => {
  const scripts = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  t.match(scripts['prepack'], /npm run build$/);
  t.equal(scripts['prepare'], undefined);
  t.equal(scripts['prestart'], 'npm run build');
});

t.test('npm install -g of the tarball: no dev dependencies, both commands work, the server starts', async (t) => {
  const dir = t.testdir();
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--pack-destination', dir, '--silent'], { cwd: ROOT });
  const tarball = path.join(dir, stdout.trim().split('\n').pop()!);
  const prefix = path.join(dir, 'prefix');
  await run('npm', ['install', '-g', '--prefix', prefix, '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund', tarball], { cwd: dir, maxBuffer: 16 << 20 });

  const installed = path.join(prefix, 'lib', 'node_modules', 'agentlb');
  const modules = await readdir(path.join(installed, 'node_modules'));
  t.same(Object.keys(PACKAGE.devDependencies).filter((name) => modules.includes(name.split('/')[0]!)), [], 'no dev dependency installed');
  for (const name of Object.keys(PACKAGE.dependencies)) t.ok(existsSync(path.join(installed, 'node_modules', name)), `${name} installed`);

  const bin = (name: string): string => path.join(prefix, 'bin', name);
  const runtime = `(Node.js ${process.version}, ${process.platform}-${process.arch})`;
  t.equal((await run(bin('agentlb'), ['--version'])).stdout, `agentlb ${PACKAGE.version} ${runtime}\n`);
  t.equal((await run(bin('agentlb-agent'), ['--version'])).stdout, `agentlb-agent ${PACKAGE.version} ${runtime}\n`);

  const server = spawn(bin('agentlb'), ['server', '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--data-dir', path.join(dir, 'data'), '--pool', 'on'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const closed = once(server, 'close');
  t.teardown(() => {
    if (server.exitCode === null) server.kill('SIGKILL');
  });
  const started = await new Promise<Record<string, unknown>>((resolve, reject) => {
    createInterface({ input: server.stdout }).on('line', (line) => {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      if (parsed['event'] === 'started') resolve(parsed);
    });
    void closed.then(() => reject(new Error('the installed server exited before starting')));
  });
  t.match(started, { version: PACKAGE.version });
  const health = (await (await fetch(`http://127.0.0.1:${started['adminPort'] as number}/healthz`)).json()) as { status: string };
  t.equal(health.status, 'ok');
  server.kill('SIGTERM');
  t.same(await closed, [0, null]);
});
