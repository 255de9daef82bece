/**
 * Versions on the record: `--version` on both binaries (real processes), `version` in the
 * server's and the agent's `started` lines, and the agentlb_build_info gauge.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import t from 'tap';
import { metricValue } from '../../native-bench/admin-client';
import { cleanEnv, runCliProcess, startServerProcess } from '../helpers/cli';

const ROOT = path.join(__dirname, '..', '..');
const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const AGENT_PATH = path.join(ROOT, 'dist', 'agent', 'main.js');
const RUNTIME = `(Node.js ${process.version}, ${process.platform}-${process.arch})`;

t.test('--version on agentlb, agentlb agent and agentlb-agent', async (t) => {
  t.same(await runCliProcess(['--version']), { code: 0, stdout: `agentlb ${VERSION} ${RUNTIME}\n`, stderr: '' });
  t.same(await runCliProcess(['-V']), { code: 0, stdout: `agentlb ${VERSION} ${RUNTIME}\n`, stderr: '' });
  t.same(await runCliProcess(['agent', '--version']), { code: 0, stdout: `agentlb-agent ${VERSION} ${RUNTIME}\n`, stderr: '' });
  const child = spawn(process.execPath, [AGENT_PATH, '--version'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const [code] = await once(child, 'close');
  t.same([code, out], [0, `agentlb-agent ${VERSION} ${RUNTIME}\n`]);
});

t.test('the server: version in started, /healthz and agentlb_build_info', async (t) => {
  const server = await startServerProcess(t, ['--data-dir', t.testdir()]);
  t.match(server.logs.find((line) => line.event === 'started'), { version: VERSION });
  const health = (await (await fetch(`http://127.0.0.1:${server.adminPort}/healthz`)).json()) as { version: string };
  t.equal(health.version, VERSION);
  const metrics = await (await fetch(`http://127.0.0.1:${server.adminPort}/metrics`)).text();
  t.equal(metricValue(metrics, 'agentlb_build_info', { version: VERSION, node: process.version }), 1);
  t.match(metrics, /# TYPE agentlb_build_info gauge/);
});

t.test('the agent: version and Node.js in its started line', async (t) => {
  const dir = t.testdir();
  const properties = path.join(dir, 'agent.properties');
  await writeFile(properties, 'host=127.0.0.1:1\n');
  const child = spawn(process.execPath, [AGENT_PATH, '--properties', properties], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = once(child, 'close');
  const started = await new Promise<Record<string, unknown>>((resolve) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      if (parsed['event'] === 'started') resolve(parsed);
    });
  });
  t.match(started, { version: VERSION, node: process.version, properties, msg: `agentlb-agent ${VERSION} on Node.js ${process.version}` });
  child.kill('SIGTERM');
  t.same(await exited, [0, null]);
});
