/**
 * The `agentlb` command as real processes: help that tells the truth, bad flags (exit 2),
 * the client commands against a real server process, and SIGTERM.
 */
import t from 'tap';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { serverUsage } from '../../src/cli/server-command';

const SERVER_USAGE = serverUsage();
import { SETTINGS_USAGE } from '../../src/cli/settings-command';
import { HOSTS_USAGE } from '../../src/cli/hosts-command';
import { cleanEnv, runCliProcess, runCliInProcess as runInProcess, startServerProcess } from '../helpers/cli';
import { TestAgent } from '../helpers/test-agent';


t.test('help', async (t) => {
  const top = await runCliProcess(['--help']);
  t.equal(top.code, 0);
  t.match(top.stdout, /^Usage: agentlb <command> \[options\]/);
  for (const command of ['server', 'settings', 'hosts', 'agent']) t.match(top.stdout, new RegExp(`\\n  ${command} `));
  const none = await runCliProcess([]);
  t.equal(none.code, 2, 'no command is a usage error');
  t.equal(none.stderr, top.stdout);
  for (const [command, usage] of [
    ['server', SERVER_USAGE],
    ['settings', SETTINGS_USAGE],
    ['hosts', HOSTS_USAGE],
  ] as const) {
    t.same(await runInProcess([command, '--help']), { code: 0, out: usage, err: '' }, `${command} --help`);
  }
});

t.test('server --help lists exactly the flags the parser accepts', async (t) => {
  const listed = [...SERVER_USAGE.matchAll(/^ {2}(?:-h, )?--([a-z-]+)/gm)].map((m) => m[1]!).sort();
  t.same(listed, [
    'admin', 'admin-token', 'advertise', 'agent-token', 'ca-dir', 'cert-days', 'check-config', 'close-grace', 'config', 'connection-burst', 'data-dir', 'drain-rate', 'handshake-timeout', 'heartbeat-interval', 'help', 'listen',
    'log-buffer', 'log-level', 'max-calls-in-flight', 'max-connection-rate', 'max-connections', 'max-frame', 'max-handshakes', 'max-handshakes-per-source', 'max-hosts', 'max-missed-pings', 'max-write-buffer', 'new-host-rate', 'ping-interval', 'pool', 'pool-threshold', 'protocol', 'rate-limit-loopback',
    'require-client-cert', 'store', 'tls-ca', 'tls-cert', 'tls-crl', 'tls-key',
  ]);
  // With --help the command parses every flag, then prints help and returns.
  const switches = new Set(['check-config', 'help', 'rate-limit-loopback', 'require-client-cert']);
  for (const flag of listed) {
    const args = switches.has(flag) ? ['server', `--${flag}`, '--help'] : ['server', `--${flag}=x`, '--help'];
    t.same(await runInProcess(args), { code: 0, out: SERVER_USAGE, err: '' }, `--${flag} is accepted`);
  }
  t.same(await runInProcess(['server', '--listen-on=x', '--help']), {
    code: 2,
    out: '',
    err: "agentlb server: Unknown option '--listen-on'\nRun `agentlb server --help` for usage.\n",
  });
});

t.test('bad command lines exit 2 and name the problem', async (t) => {
  const cases: [string[], string][] = [
    [['bogus'], 'agentlb: unknown command "bogus"\nRun `agentlb --help` for the commands.\n'],
    [['server', '--bogus'], "agentlb server: Unknown option '--bogus'\nRun `agentlb server --help` for usage.\n"],
    [['server', '--listen', 'nope'], 'agentlb server: --listen must be HOST:PORT (or [IPv6]:PORT) with a port from 0 to 65535, got "nope"\nRun `agentlb server --help` for usage.\n'],
    [['server', '--admin', '1.2.3.4:70000'], 'agentlb server: --admin must be HOST:PORT (or [IPv6]:PORT) with a port from 0 to 65535, got "1.2.3.4:70000"\nRun `agentlb server --help` for usage.\n'],
    [['server', '--ping-interval', '0'], 'agentlb server: --ping-interval must be a number of seconds from 0.001 to 2147483, got "0"\nRun `agentlb server --help` for usage.\n'],
    [['server', '--ping-interval', '-1'], 'agentlb server: --ping-interval must be a number of seconds from 0.001 to 2147483, got "-1"\nRun `agentlb server --help` for usage.\n'],
    [['servers', 'drain', '--rate', '-5'], 'agentlb servers: --rate must be an integer from 1 to 100000, got "-5"\nRun `agentlb servers --help` for usage.\n'],
    [['server', '--max-frame', '70000'], 'agentlb server: --max-frame must be an integer from 64 to 65536, got "70000"\nRun `agentlb server --help` for usage.\n'],
    [['server', '--log-buffer', '100'], 'agentlb server: --log-buffer must be an integer from 4096 to 1073741824, got "100"\nRun `agentlb server --help` for usage.\n'],
    [['server', '--log-level', 'loud'], 'agentlb server: --log-level must be one of fatal, error, warn, info, debug, trace, silent, got "loud"\nRun `agentlb server --help` for usage.\n'],
    [['server', 'extra'], 'agentlb server: unexpected argument "extra"\nRun `agentlb server --help` for usage.\n'],
    [['settings'], 'agentlb settings: missing action: get or set\nRun `agentlb settings --help` for usage.\n'],
    [['settings', 'set'], 'agentlb settings: settings set needs at least one KEY=VALUE (keys: host, indirect.agent.lb.algorithm, indirect.agent.lb.check.interval, indirect.agent.lb.rebalance, indirect.agent.lb.rebalance.threshold, indirect.agent.lb.rebalance.grace)\nRun `agentlb settings --help` for usage.\n'],
    [['settings', 'set', 'host'], 'agentlb settings: expected KEY=VALUE, got "host"\nRun `agentlb settings --help` for usage.\n'],
    [['settings', 'get', '--timeout', 'x'], 'agentlb settings: --timeout must be a number of seconds from 0.001 to 2147483, got "x"\nRun `agentlb settings --help` for usage.\n'],
    [['hosts', 'remove'], 'agentlb hosts: hosts remove takes exactly one host ID, got 0\nRun `agentlb hosts --help` for usage.\n'],
    [['hosts', 'remove', 'x1'], 'agentlb hosts: host ID must be an integer from 0 to 9007199254740991, got "x1"\nRun `agentlb hosts --help` for usage.\n'],
    [['hosts', '--force'], 'agentlb hosts: --force only applies to hosts remove\nRun `agentlb hosts --help` for usage.\n'],
  ];
  for (const [args, stderr] of cases) {
    t.same(await runInProcess(args), { code: 2, out: '', err: stderr }, args.join(' '));
  }
  // And once as a real process: the exit status reaches the shell.
  const real = await runCliProcess(['server', '--bogus']);
  t.same(real, { code: 2, stdout: '', stderr: cases[1]![1] });
});

t.test('client commands against a real server process', async (t) => {
  const dataDir = t.testdir();
  const server = await startServerProcess(t, ['--data-dir', dataDir]);
  const admin = ['--admin', `127.0.0.1:${server.adminPort}`, '--data-dir', dataDir];

  const initial = await runCliProcess(['settings', 'get', ...admin]);
  t.same(initial, { code: 0, stdout: `host=127.0.0.1:${server.agentPort}\nindirect.agent.lb.algorithm=static\nindirect.agent.lb.check.interval=0\nindirect.agent.lb.rebalance=auto\nindirect.agent.lb.rebalance.threshold=20\nindirect.agent.lb.rebalance.grace=60\n`, stderr: '' });

  const set = await runCliProcess(['settings', 'set', 'host=M1,M2', 'indirect.agent.lb.algorithm=roundrobin', 'indirect.agent.lb.check.interval=30', ...admin]);
  t.same(set, { code: 0, stdout: 'host=M1,M2\nindirect.agent.lb.algorithm=roundrobin\nindirect.agent.lb.check.interval=30\nindirect.agent.lb.rebalance=auto\nindirect.agent.lb.rebalance.threshold=20\nindirect.agent.lb.rebalance.grace=60\n', stderr: '' });
  t.match(await server.waitForLog((line) => line.event === 'settings_changed'), { settingsVersion: 1, agentsUpdated: 0 });

  const refused = await runCliProcess(['settings', 'set', 'indirect.agent.lb.check.interval=soon', ...admin]);
  t.same(refused, {
    code: 1,
    stdout: '',
    stderr: 'agentlb settings: PUT /api/settings failed (HTTP 400): indirect.agent.lb.check.interval must be an integer number of seconds from 0 to 86400, got "soon"\n',
  });

  const json = await runCliProcess(['settings', 'get', '--json', ...admin]);
  t.same(JSON.parse(json.stdout), { host: 'M1,M2', 'indirect.agent.lb.algorithm': 'roundrobin', 'indirect.agent.lb.check.interval': 30, 'indirect.agent.lb.rebalance': 'auto', 'indirect.agent.lb.rebalance.threshold': 20, 'indirect.agent.lb.rebalance.grace': 60 });

  const agent = await TestAgent.connect(server.agentPort);
  const { hosts } = await agent.handshake({ guid: 'agent-1' });
  agent.ack(hosts!);
  await agent.roundTrip(); // the ack has been read before the next frame is answered
  await server.waitForLog((line) => line.event === 'connected' && line['guid'] === 'agent-1');

  const listed = await runCliProcess(['hosts', ...admin]);
  t.equal(listed.code, 0);
  t.match(listed.stdout, new RegExp(`^ID +GUID +ZONE +CONNECTED +SERVER +LIST +ACKED\\n1 +agent-1 +default +127\\.0\\.0\\.1:\\d+ +127\\.0\\.0\\.1:${server.agentPort} +M1,M2@roundrobin +yes\\n$`));
  const listedJson = await runCliProcess(['hosts', '--json', ...admin]);
  t.match(JSON.parse(listedJson.stdout), [{ id: 1, guid: 'agent-1', connected: true, acked: true }]);

  const busy = await runCliProcess(['hosts', 'remove', '1', ...admin]);
  t.same(busy, {
    code: 1,
    stdout: '',
    stderr: `agentlb hosts: DELETE /api/hosts/1 failed (HTTP 409): host 1 (agent-1) is connected to 127.0.0.1:${server.agentPort}; stop its agent first, or run \`agentlb hosts remove 1 --force\` to disconnect it\n`,
  });
  const removed = await runCliProcess(['hosts', 'remove', '1', '--force', ...admin]);
  t.same(removed, { code: 0, stdout: 'removed host 1 (agent-1); 0 agent(s) sent a new list\n', stderr: '' });
  await agent.closed;

  const wrongToken = await runCliProcess(['settings', 'set', 'host=M9', '--admin', `127.0.0.1:${server.adminPort}`], cleanEnv({ AGENTLB_ADMIN_TOKEN: 'wrong' }));
  t.same([wrongToken.code, wrongToken.stderr], [1, 'agentlb settings: PUT /api/settings failed (HTTP 401): missing or wrong bearer token\n']);

  const noToken = await runCliProcess(['settings', 'set', 'host=M9', '--admin', `127.0.0.1:${server.adminPort}`, '--data-dir', t.testdir()]);
  t.equal(noToken.code, 1);
  t.match(noToken.stderr, /^agentlb settings: no admin token: pass --token, set AGENTLB_ADMIN_TOKEN, or point --data-dir at the server's data directory \(.*admin\.token does not exist\)\n$/);

  server.child.kill('SIGTERM');
  t.equal(await server.exited, 0);
});

t.test('SIGTERM: agents get shutting_down, the process exits 0 and logs its stop', async (t) => {
  const server = await startServerProcess(t, ['--data-dir', t.testdir(), '--log-level', 'info']);
  const agents = [await TestAgent.connect(server.agentPort), await TestAgent.connect(server.agentPort)];
  await agents[0]!.hello({ guid: 'a' });
  await agents[1]!.hello({ guid: 'b' });
  server.child.kill('SIGTERM');
  for (const agent of agents) {
    let message = await agent.next();
    while (message.type !== 'error') message = await agent.next();
    t.same(message, { type: 'error', code: 'shutting_down', message: 'this server is shutting down' });
    await agent.close();
  }
  t.equal(await server.exited, 0);
  t.ok(server.logs.some((line) => line.event === 'signal' && line['signal'] === 'SIGTERM'));
  t.ok(server.logs.some((line) => line.event === 'disconnected' && line['reason'] === 'shutting_down'));
  t.equal(server.logs.at(-1)?.event, 'stopped', server.logs.map((line) => line.event).join(','));
});

t.test('start failures exit 1 with the reason', async (t) => {
  const dataDir = t.testdir();
  const server = await startServerProcess(t, ['--data-dir', dataDir]);
  const clash = await runCliProcess(['server', '--listen', `127.0.0.1:${server.agentPort}`, '--admin', '127.0.0.1:0', '--data-dir', t.testdir()]);
  t.equal(clash.code, 1);
  t.match(clash.stderr, new RegExp(`^agentlb server: cannot listen for agent connections on 127\\.0\\.0\\.1:${server.agentPort}: listen EADDRINUSE`));
  const unreachable = await runCliProcess(['settings', 'get', '--admin', '127.0.0.1:1', '--token', 'any']);
  t.same([unreachable.code, unreachable.stderr], [1, 'agentlb settings: cannot reach the admin API at http://127.0.0.1:1: ECONNREFUSED\n']);
  // A port that accepts and never answers: the client gives up after --timeout.
  const sockets: Socket[] = [];
  const silent = createServer((socket) => sockets.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const silentPort = (silent.address() as AddressInfo).port;
  const timedOut = await runInProcess(['hosts', '--admin', `127.0.0.1:${silentPort}`, '--timeout', '0.05', '--token', 'any']);
  t.same(timedOut, { code: 1, out: '', err: `agentlb hosts: cannot reach the admin API at http://127.0.0.1:${silentPort}: no answer within 50 ms\n` });
  for (const socket of sockets) socket.destroy();
  silent.close();
  server.child.kill('SIGINT');
  t.equal(await server.exited, 0, 'SIGINT stops it cleanly too');
});
