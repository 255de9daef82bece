/**
 * The dependency rule (.dependency-cruiser.cjs, run by `npm test`) must fail on the imports it
 * exists to forbid. The test copies src/ and agent/ to a temp dir, adds one offending file per
 * case, and runs the same depcruise command as `npm run depcruise` there: a rule that silently
 * passed everything fails here. The clean copy passing shows the failure is the added files.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync, unlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');
const DEPCRUISE = path.join(ROOT, 'node_modules', '.bin', 'depcruise');
const CONFIG = '.dependency-cruiser.cjs';

const work = mkdtempSync(path.join(os.tmpdir(), 'agentlb-deprule-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));
for (const entry of ['src', 'agent', 'tsconfig.json', CONFIG]) {
  cpSync(path.join(ROOT, entry), path.join(work, entry), { recursive: true });
}

interface Run {
  code: number;
  output: string;
}

function depcruise(): Promise<Run> {
  const args = ['src', 'agent', '--config', CONFIG, '--output-type', 'err'];
  return new Promise((resolve) => {
    execFile(DEPCRUISE, args, { cwd: work }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}

/** Runs the rule with `files` added (path -> content), then removes them. */
async function withFiles(files: Record<string, string>): Promise<Run> {
  for (const [file, text] of Object.entries(files)) writeFileSync(path.join(work, file), text);
  try {
    return await depcruise();
  } finally {
    for (const file of Object.keys(files)) unlinkSync(path.join(work, file));
  }
}

t.test('the tree as it is passes', async (t) => {
  const run = await depcruise();
  t.equal(run.code, 0, run.output);
  t.match(run.output, /no dependency violations found/);
});

const cases: { name: string; rule: string; files: Record<string, string>; edge: RegExp }[] = [
  {
    name: 'server/ imports admin/',
    rule: 'layer-server',
    files: { 'src/server/probe.ts': "import type { Route } from '../admin/http';\nexport type Probe = Route;\n" },
    edge: /src\/server\/probe\.ts → src\/admin\/http\.ts/,
  },
  {
    name: 'security/ imports server/',
    rule: 'layer-security',
    files: { 'src/security/probe.ts': "import type { ServerEvents } from '../server/events';\nexport type Probe = ServerEvents;\n" },
    edge: /src\/security\/probe\.ts → src\/server\/events\.ts/,
  },
  {
    name: 'security/ imports cli/',
    rule: 'layer-security',
    files: { 'src/security/probe-cli.ts': "export { UsageError } from '../cli/args';\n" },
    edge: /src\/security\/probe-cli\.ts → src\/cli\/args\.ts/,
  },
  {
    name: 'protocol/ imports lb/',
    rule: 'layer-protocol',
    files: { 'src/protocol/probe.ts': "import type { Algorithm } from '../lb/types';\nexport type Probe = Algorithm;\n" },
    edge: /src\/protocol\/probe\.ts → src\/lb\/types\.ts/,
  },
  {
    name: 'admin/ imports a server value, not a type',
    rule: 'admin-sees-server-through-types',
    files: { 'src/admin/probe.ts': "export { Fleet } from '../server/fleet/fleet';\n" },
    edge: /src\/admin\/probe\.ts → src\/server\/fleet\/fleet\.ts/,
  },
  {
    name: 'the agent imports the server',
    rule: 'agent-imports-only-shared-code',
    files: { 'agent/probe.ts': "import type { Fleet } from '../src/server/fleet/fleet';\nexport type Probe = Fleet;\n" },
    edge: /agent\/probe\.ts → src\/server\/fleet\/fleet\.ts/,
  },
  {
    name: 'two modules import each other',
    rule: 'no-circular',
    files: {
      'src/util/probe-a.ts': "import { b } from './probe-b';\nexport const a = (): number => b() + 1;\n",
      'src/util/probe-b.ts': "import { a } from './probe-a';\nexport const b = (): number => a() - 1;\n",
    },
    edge: /src\/util\/probe-(a|b)\.ts/,
  },
];

// One run with every offending file in place (each depcruise run takes seconds on a busy machine):
// each rule reports its own violation.
t.test('the rule fails on each forbidden import', async (t) => {
  const run = await withFiles(Object.assign({}, ...cases.map((c) => c.files)));
  t.not(run.code, 0, 'depcruise exits non-zero');
  for (const c of cases) {
    const line = run.output.split('\n').find((text) => text.includes(`error ${c.rule}: `) && c.edge.test(text));
    t.ok(line !== undefined, `${c.name}: reported by ${c.rule}`);
  }
});
