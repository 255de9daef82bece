/**
 * The asynchronous log output loses nothing on the way out: a process that logs thousands of
 * lines and then dies of an uncaught exception still writes every line, then its `fatal_error`
 * line, in order, and exits 1; a clean exit after flushLogger() likewise. Real processes (the
 * built dist/src/log.js) with stdout on a pipe, as under a service manager.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import t from 'tap';

const LOG_JS = path.join(__dirname, '..', '..', 'dist', 'src', 'log.js');
const LINES = 20_000;

async function run(script: string): Promise<{ code: number | null; lines: Record<string, unknown>[] }> {
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let text = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, lines: text.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>) };
}

const prelude = `
const log = require(${JSON.stringify(LOG_JS)});
const logger = log.createLogger({ level: 'info' });
for (let i = 0; i < ${LINES}; i++) logger.info({ event: 'n', n: i }, 'line');
`;

function inOrder(lines: Record<string, unknown>[]): boolean {
  const numbers = lines.filter((line) => line['event'] === 'n').map((line) => line['n']);
  return numbers.length === LINES && numbers.every((n, i) => n === i);
}

t.test('an uncaught exception: every buffered line, then the fatal line, exit 1', async (t) => {
  const { code, lines } = await run(`${prelude}
log.exitOnFatalError(logger);
setImmediate(() => { throw new Error('boom'); });
`);
  t.equal(code, 1);
  t.ok(inOrder(lines), `all ${LINES} lines, in order`);
  const last = lines.at(-1)!;
  t.equal(last['event'], 'fatal_error');
  t.equal(last['level'], 60);
  t.equal(last['origin'], 'uncaughtException');
  t.equal((last['err'] as { message: string }).message, 'boom');
});

t.test('an unhandled rejection is fatal the same way', async (t) => {
  const { code, lines } = await run(`${prelude}
log.exitOnFatalError(logger);
Promise.reject(new Error('lost promise'));
`);
  t.equal(code, 1);
  t.ok(inOrder(lines));
  t.equal(lines.at(-1)!['origin'], 'unhandledRejection');
});

t.test('a clean exit after flushLogger writes every line', async (t) => {
  const { code, lines } = await run(`${prelude}
log.flushLogger(logger).then((done) => { logger.info({ event: 'flushed', done }, 'x'); return log.flushLogger(logger); }).then(() => process.exit(0));
`);
  t.equal(code, 0);
  t.ok(inOrder(lines));
  t.same(lines.at(-1)!['event'], 'flushed');
  t.equal(lines.at(-1)!['done'], true, 'flushLogger resolved true: nothing was left');
});
