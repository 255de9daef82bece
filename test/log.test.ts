import t from 'tap';
import { Writable } from 'node:stream';
import { createLogger } from '../src/log';

t.test('an error that names its cause is logged once, the cause nested', async (t) => {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const logger = createLogger({ level: 'info', destination });
  const cause = new Error('data directory is in use by process 42');
  logger.fatal({ err: new Error(`cannot open the store: ${cause.message}`, { cause }) }, 'start failed');
  const line = JSON.parse(lines[0]) as { err: { message: string; cause: { message: string } } };
  t.equal(line.err.message, 'cannot open the store: data directory is in use by process 42');
  t.equal(line.err.cause.message, 'data directory is in use by process 42');
});
