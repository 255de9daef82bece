/**
 * kill -9 against the real server process while settings change through the admin API: after
 * every kill the server starts again on the same data directory (never unreadable), and holds
 * the last change it acknowledged with 200 (or one sent after it whose answer the kill cut
 * off), whole: `host` and the interval of the same request, never a mix.
 *
 * Each request sets both fields from one counter, so what survived names the request it came
 * from. The kill lands at a different point each round: right after a request is sent, right
 * after the server logged the change as committed (before or while it answers), or a few
 * milliseconds into a burst of concurrent requests.
 */
import t from 'tap';
import { startServerProcess, cleanEnv, type ServerProcess } from '../helpers/cli';

const TOKEN = 'kill-loop-token';
const ROUNDS = 9;

interface Settings {
  host: string;
  'indirect.agent.lb.check.interval': number;
}

/** What an answer told us: the status and, for 200, the settings version it committed. */
interface Answer {
  status: number;
  version: number;
}

function version(response: Response): number {
  return Number(JSON.parse(response.headers.get('etag') ?? '"-1"'));
}

function put(server: ServerProcess, n: number): Promise<Answer> {
  return fetch(`http://127.0.0.1:${server.adminPort}/api/settings`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ host: `m${n}.example:8250`, 'indirect.agent.lb.check.interval': n }),
  }).then(
    (response) => ({ status: response.status, version: version(response) }),
    () => ({ status: 0, version: -1 }), // the kill cut it off
  );
}

async function current(server: ServerProcess): Promise<{ settings: Settings; version: number }> {
  const response = await fetch(`http://127.0.0.1:${server.adminPort}/api/settings`, { headers: { authorization: `Bearer ${TOKEN}` } });
  return { version: version(response), settings: (await response.json()) as Settings };
}

t.test('kill -9 during settings changes never loses an acknowledged change', async (t) => {
  const dataDir = t.testdir();
  let counter = 0;
  /** The newest acknowledged change: its settings version and its value. */
  let acked = { version: 0, value: 0 };
  /** Sent, answer never seen: each may or may not have been committed. */
  let unanswered = new Set<number>();
  const check = async (server: ServerProcess, label: string): Promise<void> => {
    const found = await current(server);
    const n = found.settings['indirect.agent.lb.check.interval'];
    // Before any change is kept, `host` is the default: the server's own address (issue 15 item 1),
    // which is this process's listen address and freshly bound port.
    const untouched = `127.0.0.1:${server.agentPort}`;
    t.equal(found.settings.host, n === 0 ? untouched : `m${n}.example:8250`, `${label}: host and interval from the same request`);
    if (found.version === acked.version) t.equal(n, acked.value, `${label}: holds the last acknowledged change (version ${acked.version})`);
    else t.ok(found.version > acked.version && unanswered.has(n), `${label}: version ${found.version} holds ${n}, sent after the last acknowledged (version ${acked.version}) and never answered`);
    acked = { version: found.version, value: n }; // what a restarted server holds is durable from now on
    unanswered = new Set();
  };
  const start = (): Promise<ServerProcess> => startServerProcess(t, ['--data-dir', dataDir, '--admin-token', TOKEN], cleanEnv());

  for (let round = 0; round < ROUNDS; round++) {
    const server = await start();
    await check(server, `round ${round}`);
    const send = (): Promise<void> => {
      const value = ++counter;
      unanswered.add(value);
      return put(server, value).then((answer) => {
        if (answer.status === 0) return;
        unanswered.delete(value);
        t.equal(answer.status, 200, `change ${value} answered`);
        if (answer.version > acked.version) acked = { version: answer.version, value };
      });
    };
    // Some acknowledged changes first (a different number each round).
    for (let i = 0; i < 2 + (round % 4); i++) await send();
    const kill = (): void => void server.child.kill('SIGKILL');
    const inFlight: Promise<void>[] = [];
    switch (round % 3) {
      case 0: // before the server has read the request
        inFlight.push(send());
        kill();
        break;
      case 1: {
        // after the change was committed and logged, before or while the server answers
        const value = counter + 1;
        const committed = server.waitForLog(
          (line) => line.event === 'settings_changed' && (line['settings'] as Settings)['indirect.agent.lb.check.interval'] === value,
        );
        inFlight.push(send());
        await committed;
        kill();
        break;
      }
      case 2: // in the middle of a burst of concurrent changes
        for (let i = 0; i < 8; i++) inFlight.push(send());
        setTimeout(kill, round % 5);
        break;
    }
    await Promise.all(inFlight);
    t.equal(await server.exited, null, 'killed by the signal');
  }
  await check(await start(), 'after the last kill');
  t.ok(counter > ROUNDS * 3, `${counter} changes sent`);
});
