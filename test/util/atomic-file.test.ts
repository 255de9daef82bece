import t from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseProperties } from '../../agent/properties';
import { removeStaleTempFiles, writeFileAtomic } from '../../src/util/atomic-file';
import { bundleFixture } from '../fixtures/bundle-fixture';
import { runUntilKilled } from '../fixtures/kill-child';
import { INITIAL_PROPERTIES, versionOf } from '../fixtures/properties-versions';

const modeOf = async (file: string) => (await stat(file)).mode & 0o7777;

t.test('creates a new file and leaves nothing else behind', async (t) => {
  const dir = t.testdir();
  const file = path.join(dir, 'new.txt');
  await writeFileAtomic(file, 'hello\n');
  t.equal(await readFile(file, 'utf8'), 'hello\n');
  t.same(await readdir(dir), ['new.txt']);
});

t.test('replaces the content and keeps the mode of the file it replaces', async (t) => {
  const dir = t.testdir({ 'f.txt': 'old' });
  const file = path.join(dir, 'f.txt');
  await chmod(file, 0o640);
  // A strict umask must not strip the inherited mode.
  const umask = process.umask(0o077);
  t.teardown(() => process.umask(umask));
  await writeFileAtomic(file, Buffer.from([0x6e, 0x65, 0x77]));
  t.equal(await readFile(file, 'utf8'), 'new');
  t.equal(await modeOf(file), 0o640);
  t.same(await readdir(dir), ['f.txt']);
});

t.test('opts.mode wins over the existing mode and over the umask', async (t) => {
  const dir = t.testdir({ 'f.txt': 'old' });
  const file = path.join(dir, 'f.txt');
  await chmod(file, 0o644);
  await writeFileAtomic(file, 'secret', { mode: 0o600 });
  t.equal(await modeOf(file), 0o600);
  const umask = process.umask(0o077);
  t.teardown(() => process.umask(umask));
  await writeFileAtomic(path.join(dir, 'g.txt'), 'x', { mode: 0o644 });
  t.equal(await modeOf(path.join(dir, 'g.txt')), 0o644);
});

t.test('a directory in the way: rejects with the rename error and removes the temp file', async (t) => {
  const dir = t.testdir({ target: { inside: 'x' } });
  await t.rejects(writeFileAtomic(path.join(dir, 'target'), 'data'), { code: 'EISDIR', syscall: 'rename' });
  t.same(await readdir(dir), ['target'], 'no temp file left');
  t.same(await readdir(path.join(dir, 'target')), ['inside'], 'the directory is untouched');
});

t.test('a missing directory rejects with ENOENT and creates nothing', async (t) => {
  const dir = t.testdir();
  await t.rejects(writeFileAtomic(path.join(dir, 'absent', 'f.txt'), 'data'), { code: 'ENOENT' });
  t.same(await readdir(dir), []);
});

t.test('a file where a directory should be rejects with ENOTDIR', async (t) => {
  const dir = t.testdir({ plain: 'x' });
  await t.rejects(writeFileAtomic(path.join(dir, 'plain', 'f.txt'), 'data'), { code: 'ENOTDIR' });
});

t.test('removeStaleTempFiles removes only dead writers\' temp files', async (t) => {
  const dead = spawn(process.execPath, ['-e', '']);
  await once(dead, 'exit');
  const dir = t.testdir({
    'f.txt': 'current',
    [`.f.txt.${dead.pid}.0123456789ab.tmp`]: 'torn',
    [`.f.txt.${process.pid}.0123456789ab.tmp`]: 'a write in flight in this process',
    [`.f.txt.${dead.pid}.not-ours.tmp`]: 'not our pattern',
    [`.other.txt.${dead.pid}.0123456789ab.tmp`]: 'another target',
  });
  t.equal(await removeStaleTempFiles(path.join(dir, 'f.txt')), 1);
  t.same(
    (await readdir(dir)).sort(),
    [
      `.f.txt.${dead.pid}.not-ours.tmp`,
      `.f.txt.${process.pid}.0123456789ab.tmp`,
      `.other.txt.${dead.pid}.0123456789ab.tmp`,
      'f.txt',
    ].sort(),
  );
});

t.test('kill -9 during saves never leaves a torn, mixed or empty agent.properties', async (t) => {
  const dir = t.testdir({ 'agent.properties': INITIAL_PROPERTIES, bin: {} });
  const file = path.join(dir, 'agent.properties');
  const child = bundleFixture('properties-save-loop', path.join(dir, 'bin'));
  const expected = new Map<string, string>([[INITIAL_PROPERTIES, 'initial']]);
  for (const name of ['A', 'B'] as const) {
    const doc = parseProperties(INITIAL_PROPERTIES);
    for (const [key, value] of Object.entries(versionOf(name))) doc.set(key, value);
    expected.set(doc.toString(), name);
  }
  const seen = new Set<string>();
  const ROUNDS = 30;
  for (let round = 0; round < ROUNDS; round++) {
    // Kill after a varying number of completed saves: the next save is then at some
    // arbitrary point of its write, fsync, rename or directory fsync.
    await runUntilKilled(child, [file], 1 + (round % 4));
    const text = await readFile(file, 'latin1');
    const version = expected.get(text);
    if (version === undefined) {
      t.fail(`round ${round}: file is none of the versions (${text.length} bytes)`);
      return;
    }
    seen.add(version);
    await removeStaleTempFiles(file);
    t.same(await readdir(dir).then((names) => names.filter((n) => n !== 'bin')), ['agent.properties'], 'stale temp cleaned');
  }
  t.ok(seen.has('A') && seen.has('B'), `both versions observed after kills (${[...seen].join(', ')})`);
});
