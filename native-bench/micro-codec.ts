/**
 * Codec micro-benchmark: how fast the protocol layer encodes and decodes the frames that
 * dominate a handshake storm. Called by micro.ts, which prints the rows. No assertions on
 * timing: the numbers are for reading.
 */
import { decodePayload, encodeMessage, Hello, Hosts, ProtocolError, validateAgentMessage } from '../src/protocol';

export interface CodecBenchRow {
  name: string;
  opsPerSec: number;
  nsPerOp: number;
}

export interface CodecBenchOptions {
  /** Timed iterations per operation (after a warm-up of a tenth as many). */
  iterations?: number;
}

const HELLO: Hello = {
  type: 'hello',
  version: 1,
  guid: '6f1c2a9e-4b7d-4c1e-9a3f-2d8e5b7c0a11',
  zone: 'zone-1',
  hosts: ['10.0.0.1:8250', '10.0.0.2:8250', '10.0.0.3:8250'],
  algorithm: 'roundrobin',
  checkInterval: 60,
};

const HOSTS: Hosts = {
  type: 'hosts',
  seq: 42,
  hosts: ['10.0.0.2:8250', '10.0.0.3:8250', '10.0.0.1:8250'],
  algorithm: 'roundrobin',
  checkInterval: 60,
};

/** Runs `op` `iterations` times and reports its rate; `op`'s results feed a sink so none is optimised away. */
function measure(name: string, iterations: number, op: () => unknown): CodecBenchRow {
  let sink = 0;
  const count = (v: unknown): void => {
    sink += v === undefined ? 0 : 1;
  };
  for (let i = 0; i < Math.max(1, Math.floor(iterations / 10)); i++) count(op());
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) count(op());
  const elapsedNs = Number(process.hrtime.bigint() - start);
  if (sink === 0) throw new Error(`${name}: the benchmarked operation returned nothing`);
  const nsPerOp = elapsedNs / iterations;
  return { name, opsPerSec: Math.round(1e9 / nsPerOp), nsPerOp: Math.round(nsPerOp * 10) / 10 };
}

export function benchCodec(opts: CodecBenchOptions = {}): CodecBenchRow[] {
  const iterations = opts.iterations ?? 200_000;
  const helloPayload = encodeMessage(HELLO).subarray(4);
  return [
    measure('encode hello', iterations, () => encodeMessage(HELLO)),
    measure('decode+validate hello', iterations, () => {
      const value = decodePayload(helloPayload);
      return value instanceof ProtocolError ? value : validateAgentMessage(value);
    }),
    measure('encode hosts (3 entries)', iterations, () => encodeMessage(HOSTS)),
  ];
}
