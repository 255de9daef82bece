/**
 * Per-agent connect/disconnect lines at info are capped at 100 a second, the rest summarised
 * (src/server/connection-lines.ts): every connect and disconnect is accounted for, either by
 * its own line or in a `connections` summary; at debug every line is written.
 */
import { Writable } from 'node:stream';
import t from 'tap';
import { loopbackSources } from '../../native-bench/loopback';
import { runNativeClient } from '../../native-bench/native-client';
import { createLogger, type LogLevel } from '../../src/log';
import { ConnectionLines } from '../../src/server/connection-lines';
import { startTestServer } from '../helpers/server';

type Line = Record<string, unknown>;

function capture(level: LogLevel) {
  const lines: Line[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Line);
      done();
    },
  });
  return { logger: createLogger({ level, destination }), lines };
}

t.test('within one second: the first N lines, then counts, then one summary', async (t) => {
  const log = capture('info');
  let now = 0;
  const budget = new ConnectionLines(log.logger, 3, () => now);
  t.same([budget.connect(), budget.connect(), budget.disconnect('closed_by_agent')], [true, true, true]);
  t.same([budget.connect(), budget.disconnect('ping_timeout'), budget.disconnect('ping_timeout'), budget.disconnect('replaced')], [false, false, false, false]);
  now = 500;
  t.equal(budget.connect(), false, 'still the same window');
  budget.close();
  t.same(log.lines.map((line) => [line['event'], line['connected'], line['disconnected'], line['reasons']]), [
    ['connections', 2, 3, { ping_timeout: 2, replaced: 1 }],
  ]);
  t.match(log.lines[0]!['msg'], /^2 more agents connected and 3 disconnected in the last second without a line each \(more than 3 lines a second/);
  // The summary opened a new window.
  now = 600;
  t.equal(budget.connect(), true);
});

t.test('a quiet second later, lines are written again without a summary', async (t) => {
  const log = capture('info');
  let now = 0;
  const budget = new ConnectionLines(log.logger, 2, () => now);
  t.same([budget.connect(), budget.connect()], [true, true]);
  now = 1_000;
  t.same([budget.connect(), budget.connect()], [true, true]);
  budget.close();
  t.same(log.lines, [], 'nothing was held back');
});

t.test('at debug every line is written', async (t) => {
  const budget = new ConnectionLines(capture('debug').logger, 1, () => 0);
  t.same([budget.connect(), budget.connect(), budget.disconnect('closed_by_agent')], [true, true, true]);
});

t.test('a real server: 400 handshakes, each connect and disconnect logged or counted once', async (t) => {
  const log = capture('info');
  const server = await startTestServer(t, { logger: log.logger });
  // The cap is per one-second window, and a window opens at most once a second: the bound
  // depends on how long the 400 handshakes took (a second here, ten at load 50), not on a guess.
  const started = performance.now();
  const r = await runNativeClient({
    target: { host: '127.0.0.1', port: server.agentPort },
    count: 400,
    concurrency: 20,
    sources: loopbackSources(2),
    guidPrefix: 'budget-',
    until: 'hosts',
    timeoutMs: 30_000,
  });
  t.equal(r.ok, 400);
  await server.close(); // writes the pending summary
  const windows = Math.floor((performance.now() - started) / 1_000) + 1;
  const own = (event: string): number => log.lines.filter((line) => line['event'] === event).length;
  const summed = (field: string): number => log.lines.filter((line) => line['event'] === 'connections').reduce((sum, line) => sum + (line[field] as number), 0);
  t.equal(own('connected') + summed('connected'), 400, 'connects: own lines + summaries');
  t.equal(own('disconnected') + summed('disconnected'), 400, 'disconnects: own lines + summaries');
  t.ok(own('connected') + own('disconnected') <= 100 * windows, `the cap held: at most 100 lines in each of ${windows} one-second windows`);
});
