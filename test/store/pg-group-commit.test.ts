import t from 'tap';
import { GroupCommit } from '../../src/store/pg/group-commit';

/** A flush that records its batches, announces each call, and answers when the test says so. */
function gatedFlush() {
  const batches: number[][] = [];
  const gates: { release(): void; fail(err: Error): void }[] = [];
  let announce: (() => void) | undefined;
  const flush = (items: readonly number[]): Promise<readonly string[]> => {
    batches.push([...items]);
    announce?.();
    return new Promise((resolve, reject) => {
      gates.push({ release: () => resolve(items.map((n) => `r${n}`)), fail: reject });
    });
  };
  /** Resolves once the flush has been called `n` times in all. */
  const flushCalls = (n: number): Promise<void> =>
    new Promise((resolve) => {
      if (batches.length >= n) return resolve();
      announce = () => {
        if (batches.length >= n) resolve();
      };
    });
  return { batches, gates, flush, flushCalls };
}

t.test('calls made in one turn go out together, capped at maxBatch', async (t) => {
  const { batches, gates, flush, flushCalls } = gatedFlush();
  const group = new GroupCommit(flush, 4);
  const results = Array.from({ length: 10 }, (_, i) => group.submit(i));
  await flushCalls(1);
  t.same(batches, [[0, 1, 2, 3]], 'one flush in flight, with the first 4');
  gates[0]?.release();
  await flushCalls(2);
  gates[1]?.release();
  await flushCalls(3);
  gates[2]?.release();
  t.same(await Promise.all(results), results.map((_, i) => `r${i}`), 'each call gets its own result');
  t.same(batches, [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]], 'in order, never more than 4');
  t.same(group.counts, { batches: 3, calls: 10 });
});

t.test('calls arriving while a flush is in flight wait for the next one', async (t) => {
  const { batches, gates, flush, flushCalls } = gatedFlush();
  const group = new GroupCommit(flush, 100);
  const first = group.submit(1);
  await flushCalls(1);
  const later = [group.submit(2), group.submit(3)];
  t.same(batches, [[1]], 'nothing new is sent while a flush is in flight');
  gates[0]?.release();
  await flushCalls(2);
  t.same(batches[1], [2, 3], 'the waiting calls form one batch');
  gates[1]?.release();
  t.same([await first, ...(await Promise.all(later))], ['r1', 'r2', 'r3']);
});

t.test('a failed flush fails only its own batch', async (t) => {
  const { batches, gates, flush, flushCalls } = gatedFlush();
  const group = new GroupCommit(flush, 100);
  const doomed = group.submit(1);
  await flushCalls(1);
  const next = group.submit(2);
  gates[0]?.fail(new Error('database went away'));
  await t.rejects(doomed, new Error('database went away'));
  await flushCalls(2);
  gates[1]?.release();
  t.equal(await next, 'r2', 'the next batch is unaffected');
  t.same(batches, [[1], [2]]);
});

t.test('a flush answering the wrong number of results fails its batch', async (t) => {
  const group = new GroupCommit<number, number>(async () => [1], 100);
  const calls = [group.submit(1), group.submit(2)];
  const expected = new Error('group commit flush returned 1 results for 2 items');
  await t.rejects(calls[0] as Promise<number>, expected);
  await t.rejects(calls[1] as Promise<number>, expected);
});

t.test('rejectWaiting fails calls not yet flushed', async (t) => {
  const { batches, gates, flush, flushCalls } = gatedFlush();
  const group = new GroupCommit(flush, 100);
  const inFlight = group.submit(1);
  await flushCalls(1);
  const waiting = group.submit(2);
  group.rejectWaiting(new Error('closing'));
  await t.rejects(waiting, new Error('closing'));
  gates[0]?.release();
  t.equal(await inFlight, 'r1', 'the in-flight batch still completes');
  t.same(batches, [[1]], 'the rejected call was never flushed');
});

t.test('maxBatch must be a positive integer', async (t) => {
  const flush = async (items: readonly number[]) => items;
  t.throws(() => new GroupCommit(flush, 0), new RangeError('maxBatch must be a positive integer, got 0'));
  t.throws(() => new GroupCommit(flush, 1.5), new RangeError('maxBatch must be a positive integer, got 1.5'));
});
