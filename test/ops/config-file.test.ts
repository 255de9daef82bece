/**
 * `agentlb server --config FILE` (Java-properties syntax, keys = flag names) and
 * `--check-config`: the file is read, flags beat the environment which beats the file,
 * errors name the file, secrets are masked, a file readable by others holding secrets is
 * warned about. Real server processes.
 */
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import t from 'tap';
import { maskStoreUrl } from '../../src/cli/server-config';
import { cleanEnv, runCliProcess, startServerProcess } from '../helpers/cli';
import { TestAgent } from '../helpers/test-agent';

const TOKEN = 'config-file-agent-token-0123456789';

async function configFile(dir: string, text: string, mode = 0o600): Promise<string> {
  const file = path.join(dir, 'server.properties');
  await writeFile(file, text);
  await chmod(file, mode);
  return file;
}

t.test('a server started from a config file uses its values; a flag beats the file', async (t) => {
  const dir = t.testdir();
  const file = await configFile(
    dir,
    `# agentlb server configuration\nlisten = 127.0.0.1:0\nadmin: 127.0.0.1:0\ndata-dir=${path.join(dir, 'data')}\nagent-token=${TOKEN}\nlog-level=debug\nadvertise=from-file.example:8250\n`,
  );
  // startServerProcess passes --listen/--admin flags itself (port 0): those win over the file.
  const server = await startServerProcess(t, ['--config', file, '--advertise', 'from-flag.example:8250']);
  const started = server.logs.find((line) => line.event === 'started')!;
  t.match(started, { agentToken: 'required', dataDir: path.join(dir, 'data'), level: 30 });
  const health = (await (await fetch(`http://127.0.0.1:${server.adminPort}/healthz`)).json()) as Record<string, unknown>;
  t.equal(health['agentToken'], 'required');
  const probe = await TestAgent.connect(server.agentPort);
  t.match(await server.waitForLog((line) => line.event === 'accepted'), { level: 20 }, 'log-level=debug from the file');
  await probe.close();
  const settings = server.logs.find((line) => line.event === 'started')!['settings'] as { host: string };
  t.equal(settings.host, 'from-flag.example:8250', 'the flag won over the file');
  t.notMatch(JSON.stringify(server.logs), TOKEN);
});

t.test('--check-config: the effective configuration with sources, secrets masked, nothing started', async (t) => {
  const dir = t.testdir();
  const file = await configFile(
    dir,
    `listen=0.0.0.0:9250\nagent-token=${TOKEN}\nadmin-token=file-admin-token\nstore=postgres://agentlb:s3cret@db.example:5432/agentlb\nrate-limit-loopback=true\n`,
  );
  const run = await runCliProcess(['server', '--config', file, '--check-config', '--admin', '127.0.0.1:9999'], cleanEnv({ AGENTLB_ADMIN_TOKEN: 'env-admin-token' }));
  t.equal(run.code, 0, run.stderr);
  t.equal(run.stderr, '');
  const lines = run.stdout.trimEnd().split('\n');
  t.ok(lines.includes('listen=0.0.0.0:9250    # ' + file));
  t.ok(lines.includes('admin=127.0.0.1:9999    # flag'));
  t.ok(lines.includes('admin-token=********    # env AGENTLB_ADMIN_TOKEN'), 'the environment beats the file');
  t.ok(lines.includes(`agent-token=********    # ${file}`));
  t.ok(lines.includes(`store=postgres://agentlb:********@db.example:5432/agentlb    # ${file}`));
  t.ok(lines.includes(`rate-limit-loopback=true    # ${file}`));
  t.ok(lines.includes('# ping-interval: 15'), 'a default is a comment with its value');
  t.notMatch(run.stdout, /s3cret|file-admin-token|env-admin-token|config-file-agent-token/, 'no secret printed');
});

t.test('--check-config with nothing set lists every option with its default', async (t) => {
  const run = await runCliProcess(['server', '--check-config']);
  t.equal(run.code, 0);
  const lines = run.stdout.trimEnd().split('\n');
  t.ok(lines.length >= 28, `${lines.length} options`);
  t.same(lines.filter((line) => !/^# [a-z-]+: \S/.test(line)), [], 'each a comment with its default');
  t.same(lines.filter((line) => / default$/.test(line)), [], 'every option has a real default text');
});

t.test('bad files exit 2 naming the file, the key and the value', async (t) => {
  const dir = t.testdir();
  const usage = (message: string) => `agentlb server: ${message}\nRun \`agentlb server --help\` for usage.\n`;
  const unknown = await configFile(dir, 'lissten=127.0.0.1:8250\n');
  const r1 = await runCliProcess(['server', '--config', unknown, '--check-config']);
  t.equal(r1.code, 2);
  t.match(r1.stderr, `agentlb server: ${unknown}: unknown key "lissten" (keys are the server's flags without "--": `);

  const badValue = await configFile(dir, 'listen=127.0.0.1\n');
  const r2 = await runCliProcess(['server', '--config', badValue, '--check-config']);
  t.same([r2.code, r2.stderr], [2, usage(`listen (in ${badValue}) must be HOST:PORT (or [IPv6]:PORT) with a port from 0 to 65535, got "127.0.0.1"`)]);

  const badBoolean = await configFile(dir, 'require-client-cert=yes\n');
  const r3 = await runCliProcess(['server', '--config', badBoolean, '--check-config']);
  t.same([r3.code, r3.stderr], [2, usage(`${badBoolean}: require-client-cert must be true or false, got "yes"`)]);

  const emptyToken = await configFile(dir, 'agent-token=\n');
  const r4 = await runCliProcess(['server', '--config', emptyToken, '--check-config']);
  t.equal(r4.code, 2);
  t.match(r4.stderr, `agent-token (in ${emptyToken}) is empty, which would turn enrolment off`);

  const missing = path.join(dir, 'nope.properties');
  const r5 = await runCliProcess(['server', '--config', missing]);
  t.same([r5.code, r5.stderr.split('\n')[0]], [2, `agentlb server: cannot read the config file ${missing}: ENOENT: no such file or directory, open '${missing}'`]);

  const commandOnly = await configFile(dir, 'check-config=true\n');
  t.match((await runCliProcess(['server', '--config', commandOnly])).stderr, 'unknown key "check-config"');
});

t.test('a config file with secrets readable by others is warned about', async (t) => {
  const dir = t.testdir();
  const file = await configFile(dir, `agent-token=${TOKEN}\ndata-dir=${path.join(dir, 'data')}\n`, 0o644);
  const check = await runCliProcess(['server', '--config', file, '--check-config']);
  t.equal(check.code, 0);
  t.equal(check.stderr, `agentlb server: warning: ${file} holds secrets and is readable by others (mode 0644): chmod 600 ${file}\n`);
  const server = await startServerProcess(t, ['--config', file]);
  t.match(await server.waitForLog((line) => line.event === 'config_file_exposed'), { level: 40, file });

  await chmod(file, 0o600);
  t.equal((await runCliProcess(['server', '--config', file, '--check-config'])).stderr, '', 'quiet at 0600');
});

t.test('maskStoreUrl', async (t) => {
  t.equal(maskStoreUrl('postgres://u:p@h:5432/d'), 'postgres://u:********@h:5432/d');
  t.equal(maskStoreUrl('postgres://u@h/d?password=p&sslmode=require'), 'postgres://u@h/d?password=********&sslmode=require');
  t.equal(maskStoreUrl('postgres://h/d'), 'postgres://h/d');
});
