/**
 * The ConnectionLedger alone, on a recorder the test scripts: every change of one turn of the
 * event loop goes out in one statement (not one per handshake), one batch in flight at a
 * time, only the last change per host; after a failed write the whole record is replaced
 * once, and no work is done per change while it is out of date.
 */
import t from 'tap';
import { StoreUnavailableError, type ConnectionChange, type ConnectionRecorder } from '../../src/store/types';
import { ConnectionLedger } from '../../src/server/cluster/connection-ledger';
import type { AgentConnection } from '../../src/server/net/connection';

class ScriptedRecorder implements ConnectionRecorder {
  readonly batches: ConnectionChange[][] = [];
  readonly replaces: number[][] = [];
  failNext = 0;
  private gate: Promise<void> | undefined;
  private open: (() => void) | undefined;

  /** The next writes wait until release(). */
  hold(): void {
    this.gate = new Promise((resolve) => (this.open = resolve));
  }

  release(): void {
    this.open?.();
    this.gate = undefined;
  }

  async recordConnections(_server: string, changes: readonly ConnectionChange[]): Promise<void> {
    this.batches.push([...changes]);
    await this.gate;
    if (this.failNext > 0) {
      this.failNext -= 1;
      throw new StoreUnavailableError('PostgreSQL unavailable: refused');
    }
  }

  async replaceConnections(_server: string, held: readonly { hostId: number; remoteAddress: string }[]): Promise<void> {
    this.replaces.push(held.map((entry) => entry.hostId));
    await this.gate;
    if (this.failNext > 0) {
      this.failNext -= 1;
      throw new StoreUnavailableError('PostgreSQL unavailable: refused');
    }
  }
}

const connection = (hostId: number): AgentConnection => ({ hostId, remoteAddress: `10.0.0.${hostId % 250}:5000` }) as unknown as AgentConnection;

t.test('one statement per turn, one in flight, the last change per host', async (t) => {
  const recorder = new ScriptedRecorder();
  const held = new Map<number, AgentConnection>();
  const ledger = new ConnectionLedger(recorder, () => held.values());
  ledger.held(connection(99));
  await ledger.settled();
  t.same(recorder.batches, [], 'nothing is written before the address is known');
  ledger.start('m1:8250');
  await ledger.settled();
  t.same(recorder.batches.length, 1, 'what waited goes out at start');

  recorder.batches.length = 0;
  recorder.hold();
  for (let id = 1; id <= 1_000; id++) ledger.held(connection(id));
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(recorder.batches.length, 1, 'a thousand handshakes in one turn: one statement');
  t.equal(recorder.batches[0]!.length, 1_000);
  // While it is in flight, more changes wait, and only the last per host is kept.
  ledger.released(connection(1));
  ledger.held(connection(1));
  ledger.released(connection(2));
  t.equal(recorder.batches.length, 1, 'one batch in flight at a time');
  recorder.release();
  await ledger.settled();
  t.same(recorder.batches[1], [
    { hostId: 1, held: true, remoteAddress: '10.0.0.1:5000' },
    { hostId: 2, held: false },
  ]);
  t.equal(ledger.statements, 3);
});

t.test('batches are capped at maxBatch', async (t) => {
  const recorder = new ScriptedRecorder();
  const ledger = new ConnectionLedger(recorder, () => [], { maxBatch: 100 });
  ledger.start('m1:8250');
  for (let id = 1; id <= 250; id++) ledger.held(connection(id));
  await ledger.settled();
  t.same(recorder.batches.map((batch) => batch.length), [100, 100, 50]);
});

t.test('after a failed write: one replace of the whole record, no work per change meanwhile', async (t) => {
  const recorder = new ScriptedRecorder();
  const held = new Map<number, AgentConnection>([1, 2, 3].map((id) => [id, connection(id)]));
  const errors: unknown[] = [];
  const ledger = new ConnectionLedger(recorder, () => held.values(), { retryMs: 20, onError: (error) => errors.push(error) });
  ledger.start('m1:8250');
  recorder.failNext = 2; // the write, then the first replace
  ledger.held(connection(1));
  await ledger.settled();
  t.equal(errors.length, 1);
  const writesWhileDown = ledger.statements;
  for (let id = 4; id <= 500; id++) {
    held.set(id, connection(id));
    ledger.held(connection(id));
  }
  t.equal(ledger.statements, writesWhileDown, 'changes while out of date write nothing');
  // The retry timer replaces (fails once more), then replaces again and succeeds.
  await t.resolves(
    new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (recorder.replaces.length === 2) {
          clearInterval(check);
          resolve();
        }
      }, 5);
    }),
  );
  await ledger.settled();
  t.equal(recorder.replaces[1]!.length, 500, 'the replace holds every connection held now');
  t.equal(recorder.batches.length, 1, 'no change was retried one by one');
  ledger.released(connection(7));
  await ledger.settled();
  t.same(recorder.batches[1], [{ hostId: 7, held: false }], 'back to batches once in date');
  await ledger.close();
});
