/**
 * The shared ping timer (src/server/net/ping-queue.ts): entries come due in the order they
 * were queued, each once per add; a removed entry never comes due; an entry queued again from
 * its own tick waits a whole interval more. No timing is asserted, only order and outcome.
 */
import t from 'tap';
import { PingQueue, type PingLink } from '../../src/server/net/ping-queue';

class Entry implements PingLink {
  pingDueAt = 0;
  pingPrev: PingLink | undefined;
  pingNext: PingLink | undefined;
  pingQueued = false;
  constructor(
    readonly name: string,
    private readonly due: (entry: Entry) => void,
  ) {}
  pingDue(): void {
    this.due(this);
  }
}

t.test('entries come due in queue order, once each; a removed one never', async (t) => {
  const queue = new PingQueue(5);
  const fired: string[] = [];
  let last!: () => void;
  const done = new Promise<void>((resolve) => (last = resolve));
  const entries = ['a', 'b', 'c', 'd'].map((name) => new Entry(name, (e) => {
    fired.push(e.name);
    if (e.name === 'd') last();
  }));
  for (const entry of entries) queue.add(entry);
  queue.remove(entries[1]!);
  queue.remove(entries[1]!); // a second removal is a no-op
  await done;
  t.same(fired, ['a', 'c', 'd']);
  t.same(entries.map((e) => e.pingQueued), [false, false, false, false], 'none left queued');
});

t.test('an entry queued again from its tick comes due again, after the others', async (t) => {
  const queue = new PingQueue(3);
  const fired: string[] = [];
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  let rounds = 0;
  const again = new Entry('again', (e) => {
    fired.push(e.name);
    if (++rounds < 3) queue.add(e);
    else finish();
  });
  const once = new Entry('once', (e) => fired.push(e.name));
  queue.add(again);
  queue.add(once);
  await done;
  t.same(fired, ['again', 'once', 'again', 'again']);
});

t.test('adding a queued entry again moves it to the tail', async (t) => {
  const queue = new PingQueue(3);
  const fired: string[] = [];
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const a = new Entry('a', (e) => {
    fired.push(e.name);
    finish();
  });
  const b = new Entry('b', (e) => fired.push(e.name));
  queue.add(a);
  queue.add(b);
  queue.add(a);
  await done;
  t.same(fired, ['b', 'a']);
});
