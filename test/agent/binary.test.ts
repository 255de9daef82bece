/**
 * The single executable (npm run build:agent) on a machine with no Node.js in sight: started
 * with PATH and NODE_PATH emptied, from a directory with no node_modules, it completes a
 * handshake with a real server and stops cleanly on SIGTERM. It runs the pinned LTS Node
 * (scripts/node-runtime.json), not the Node that ran the build; the arm64 build is an aarch64
 * ELF with the blob injected (binary-arm64.test.ts; it cannot run here).
 */
import { spawn, execFile } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import t from 'tap';
import { AGENT_USAGE } from '../../agent/main';
import { BINARY, ensureBinary, ROOT } from '../helpers/agent-binary';
import { nextEvent, startTestServer } from '../helpers/server';
import { tempDir } from './harness';

// Building a 150 MB binary takes seconds on a quiet machine and a minute or two at load 40
// (measured here): the root test tells the runner, which then waits that long for the file.
t.setTimeout(300_000);

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { PIN } = require('../../scripts/node-runtime.js') as { PIN: { version: string } };
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const NO_NODE = { PATH: '', NODE_PATH: '' };

t.before(async () => {
  await ensureBinary();
});

t.test('--version: the pinned LTS Node, not the one that ran the build', async (t) => {
  const { stdout } = await promisify(execFile)(BINARY, ['--version'], { env: NO_NODE });
  t.equal(stdout, `agentlb-agent ${VERSION} (Node.js v${PIN.version}, linux-${process.arch})\n`);
  // Run on the machine's Node 20 this also shows the build did not embed the Node that ran it;
  // CI's second run is on the pinned Node itself, where only the line above can be asked.
});

t.test('--arch is checked', async (t) => {
  const result = await promisify(execFile)(process.execPath, [join(ROOT, 'scripts', 'build-agent.js'), '--arch', 'mips']).catch((error: { code: number; stderr: string }) => error);
  t.match(result, { code: 1, stderr: 'build-agent: --arch must be x64 or arm64, got "mips"\n' });
});

t.test('--help runs with no node on PATH', async (t) => {
  const cwd = await tempDir(t, 'agent-bin-');
  const child = spawn(BINARY, ['--help'], { cwd, env: NO_NODE });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const [code] = await once(child, 'exit');
  t.equal(code, 0);
  t.equal(out, AGENT_USAGE);
});

t.test('completes a handshake with a real server, saves its new guid and list, exits 0 on SIGTERM', async (t) => {
  const server = await startTestServer(t);
  const cwd = await tempDir(t, 'agent-bin-');
  const path = join(cwd, 'agent.properties');
  // A second, dead entry the server's list (its own address alone) does not have: it is sent.
  await writeFile(path, `# installed by a test\nhost=127.0.0.1:${server.agentPort},127.0.0.1:1\n`);

  const handshake = nextEvent(server.events, 'handshake');
  // The server's `host` setting is its default (its own address), so the agent is sent that
  // list (with the @static it lacks) after its welcome: the test waits for the ack, after which the file is settled.
  const acked = nextEvent(server.events, 'acked');
  const child = spawn(BINARY, ['--properties', path], { cwd, env: NO_NODE, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });

  const lines = createInterface({ input: child.stdout });
  const connected = new Promise<Record<string, unknown>>((resolveLine) => {
    lines.on('line', (line) => {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      if (typeof parsed.msg === 'string' && parsed.msg.startsWith('connected to ')) resolveLine(parsed);
    });
  });
  const early = exited.then(([code]) => {
    throw new Error(`the binary exited early with ${code}: ${stderr}`);
  });

  const shook = await Promise.race([handshake, early]);
  t.equal(shook.result, 'ok');
  const line = await Promise.race([connected, early]);
  t.equal(line.server, `127.0.0.1:${server.agentPort}`);
  t.equal(line.hostId, shook.hostId);

  await Promise.race([acked, early]);
  const saved = await readFile(path, 'latin1');
  t.equal(saved, `# installed by a test\nhost=127.0.0.1:${server.agentPort}@static\nguid=${shook.guid}\n`, 'the generated guid and the server\'s list were saved, the comment kept');

  child.kill('SIGTERM');
  const [code, signal] = await exited;
  t.same([code, signal], [0, null]);
  t.equal(stderr, '', 'no warnings: nothing tried to load from a node_modules');
});
