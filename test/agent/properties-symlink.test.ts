/**
 * agent.properties behind a symbolic link (config management links it to the file it owns):
 * every write replaces the link's target, atomically and beside it, and the link stays a link.
 * Before, the first update replaced the link by a regular file and the real file went stale.
 */
import { lstat, mkdir, readFile, readdir, readlink, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { loadAgentConfig, ConfigError } from '../../agent/config';
import { loadPropertiesFile, savePropertiesFile } from '../../agent/properties';
import { followLinks, writeFileAtomic } from '../../src/util/atomic-file';

t.test('an update through a relative link rewrites the target; the link stays a link', async (t) => {
  const dir = t.testdir({ etc: {}, managed: {} });
  const real = path.join(dir, 'managed', 'agent.properties');
  const link = path.join(dir, 'etc', 'agent.properties');
  await writeFile(real, '# owned by config management\nhost=m1:8250@static\n');
  await symlink('../managed/agent.properties', link);

  const doc = await loadPropertiesFile(link);
  doc.set('host', 'm2:8250,m1:8250@roundrobin');
  await savePropertiesFile(link, doc);

  t.ok((await lstat(link)).isSymbolicLink(), 'still a link');
  t.equal(await readlink(link), '../managed/agent.properties', 'pointing where it pointed');
  t.equal(await readFile(real, 'latin1'), '# owned by config management\nhost=m2:8250,m1:8250@roundrobin\n');
  t.same(await readdir(path.join(dir, 'etc')), ['agent.properties'], 'no temp file left beside the link');
  t.same(await readdir(path.join(dir, 'managed')), ['agent.properties'], 'nor beside the target');
});

t.test('a generated guid goes into the target of a chain of links', async (t) => {
  const dir = t.testdir({ a: {}, b: {} });
  const real = path.join(dir, 'b', 'real.properties');
  await writeFile(real, 'guid=\nhost=m1\n');
  await symlink(real, path.join(dir, 'a', 'middle.properties'));
  await symlink('middle.properties', path.join(dir, 'a', 'agent.properties'));

  const loaded = await loadAgentConfig(path.join(dir, 'a', 'agent.properties'), () => 'g-1');
  if (loaded instanceof ConfigError) throw loaded;
  t.equal(await readFile(real, 'latin1'), 'guid=g-1\nhost=m1\n');
  t.ok((await lstat(path.join(dir, 'a', 'agent.properties'))).isSymbolicLink());
  t.ok((await lstat(path.join(dir, 'a', 'middle.properties'))).isSymbolicLink());
  t.equal(await followLinks(path.join(dir, 'a', 'agent.properties')), real);
});

t.test('the target keeps its own mode; a dangling link creates the file it names', async (t) => {
  const dir = t.testdir({});
  const real = path.join(dir, 'real');
  await writeFile(real, 'x', { mode: 0o640 });
  await symlink(real, path.join(dir, 'link'));
  await writeFileAtomic(path.join(dir, 'link'), 'y');
  t.equal((await lstat(real)).mode & 0o777, 0o640);
  t.equal(await readFile(real, 'utf8'), 'y');

  await mkdir(path.join(dir, 'later'));
  await symlink('later/new', path.join(dir, 'dangling'));
  await writeFileAtomic(path.join(dir, 'dangling'), 'created');
  t.equal(await readFile(path.join(dir, 'later', 'new'), 'utf8'), 'created');
  t.ok((await lstat(path.join(dir, 'dangling'))).isSymbolicLink());
});

t.test('a link loop is an ELOOP error naming the path, not a hang', async (t) => {
  const dir = t.testdir({});
  await symlink('b', path.join(dir, 'a'));
  await symlink('a', path.join(dir, 'b'));
  await t.rejects(writeFileAtomic(path.join(dir, 'a'), 'z'), { code: 'ELOOP', message: `${path.join(dir, 'a')}: more than 40 symbolic links` });
});
