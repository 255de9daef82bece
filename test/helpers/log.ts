/**
 * A real pino logger whose JSON lines are kept in memory, for tests that pin what is logged.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import type { Logger } from '../../src/log';

export type CapturedLine = Record<string, unknown> & { level: number; msg: string; event?: string };

export function captureLogger(level: pino.Level = 'debug'): { logger: Logger; lines: CapturedLine[] } {
  const lines: CapturedLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString('utf8').split('\n')) if (text !== '') lines.push(JSON.parse(text) as CapturedLine);
      done();
    },
  });
  return { logger: pino({ level, base: undefined, timestamp: false }, pino.multistream([{ stream: sink, level }])), lines };
}
