/**
 * The sliced JSON array (src/admin/json-array.ts): over a real HTTP server, the body is
 * byte for byte JSON.stringify(items) + "\n" at every slice boundary, and it is written one
 * slice per write (the loop is given back between them), never as one string of the whole list.
 * Pages pulled one at a time (a listing streamed from the registry) give the same bytes, and
 * each is pulled only once the one before was written.
 */
import t from 'tap';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeJsonArray, type JsonArraySource } from '../../src/admin/json-array';

interface Served {
  body: string;
  writes: number;
  /** Writes made before an immediate queued right after the previous write had run. */
  writesWithoutTurn: number;
}

async function serve(items: JsonArraySource, slice: number): Promise<Served> {
  let writes = 0;
  let writesWithoutTurn = 0;
  let turned = true;
  const server = http.createServer((_request, response) => {
    const write = response.write.bind(response) as (chunk: string) => boolean;
    response.write = ((chunk: string) => {
      writes += 1;
      // The previous write queued an immediate: it has run only if the loop took a turn
      // (timers, poll, check) since; a slice run from process.nextTick or a microtask has not.
      if (!turned) writesWithoutTurn += 1;
      turned = false;
      setImmediate(() => (turned = true));
      return write(chunk);
    }) as typeof response.write;
    response.writeHead(200, { 'content-type': 'application/json' });
    void writeJsonArray(response, items, slice);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const body = await (await fetch(`http://127.0.0.1:${port}/`)).text();
    return { body, writes, writesWithoutTurn };
  } finally {
    server.close();
  }
}

t.test('the bytes are JSON.stringify of the array, for every size around the slice', async (t) => {
  const item = (i: number) => ({ id: i, guid: `g-${i}`, text: 'quote " backslash \\ \u2028', nested: { list: [i, null] } });
  for (const count of [0, 1, 2, 3, 4, 6, 7, 10]) {
    const items = Array.from({ length: count }, (_, i) => item(i));
    const { body, writes } = await serve(items, 3);
    t.equal(body, `${JSON.stringify(items)}\n`, `${count} items`);
    t.equal(writes, Math.max(1, Math.ceil(count / 3)), `${count} items in ${Math.max(1, Math.ceil(count / 3))} writes of at most 3`);
  }
});

t.test('elements without a JSON form are null, as JSON.stringify writes them', async (t) => {
  const items = [undefined, () => 1, 'x', Symbol('s')];
  t.equal((await serve(items, 2)).body, `${JSON.stringify(items)}\n`);
});

t.test('every slice after the first waits for a turn of the loop, also when the socket drains at once', async (t) => {
  // 2 000 items of ~1 KB in slices of 50: each write is ~50 KB, over the socket's high-water
  // mark, so every write waits for 'drain'; on loopback the kernel takes it at once and Node
  // emits that 'drain' from process.nextTick, which alone would run every slice in one turn.
  const items = Array.from({ length: 2_000 }, (_, i) => ({ id: i, pad: 'x'.repeat(1_000) }));
  const served = await serve(items, 50);
  t.equal(served.body, `${JSON.stringify(items)}\n`);
  t.equal(served.writes, 40);
  t.equal(served.writesWithoutTurn, 0, 'no slice was written in the turn of the one before');
});

t.test('pages pulled one at a time: the same bytes, slices cut within a page, each page pulled after the last was written', async (t) => {
  const all = Array.from({ length: 10 }, (_, i) => ({ id: i }));
  const sizes = [0, 4, 1, 0, 5];
  let pulled = 0;
  const writtenWhenPulled: number[] = [];
  let writes = 0;
  async function* pages(): AsyncIterable<readonly unknown[]> {
    let start = 0;
    for (const size of sizes) {
      pulled += 1;
      writtenWhenPulled.push(writes);
      yield all.slice(start, start + size);
      start += size;
    }
  }
  const server = http.createServer((_request, response) => {
    const write = response.write.bind(response) as (chunk: string) => boolean;
    response.write = ((chunk: string) => {
      writes += 1;
      return write(chunk);
    }) as typeof response.write;
    response.writeHead(200);
    void writeJsonArray(response, pages(), 2);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const body = await (await fetch(`http://127.0.0.1:${port}/`)).text();
    t.equal(body, `${JSON.stringify(all)}\n`);
    t.equal(pulled, sizes.length);
    // Pages of 0, 4, 1, 0, 5 in slices of 2: 0, 2, 1, 0, 3 writes.
    t.equal(writes, 6);
    t.same(writtenWhenPulled, [0, 0, 2, 3, 3], 'each page pulled only after the slices before it were written');
  } finally {
    server.close();
  }
});

t.test('no page at all is []; a page that throws cuts the body short', async (t) => {
  async function* none(): AsyncIterable<readonly unknown[]> {}
  t.equal((await serve(none(), 3)).body, '[]\n');

  async function* failing(): AsyncIterable<readonly unknown[]> {
    yield [1, 2];
    throw new Error('store lost');
  }
  const server = http.createServer((_request, response) => {
    response.writeHead(200);
    writeJsonArray(response, failing(), 2).catch(() => response.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    await t.rejects(
      fetch(`http://127.0.0.1:${port}/`).then((answer) => answer.text()),
      'the client sees an incomplete body, not a short list',
    );
  } finally {
    server.close();
  }
});

t.test('a client gone mid-listing stops the pages', async (t) => {
  let pulled = 0;
  let finished = false;
  const done = new Promise<void>((resolve) => {
    async function* endless(): AsyncIterable<readonly unknown[]> {
      try {
        for (;;) {
          pulled += 1;
          yield Array.from({ length: 100 }, (_, i) => ({ i, pad: 'y'.repeat(500) }));
        }
      } finally {
        finished = true;
        resolve();
      }
    }
    const server = http.createServer((_request, response) => {
      response.writeHead(200);
      void writeJsonArray(response, endless(), 100).finally(() => server.close());
    });
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      const request = http.get(`http://127.0.0.1:${port}/`, (response) => {
        response.once('data', () => request.destroy());
      });
      request.on('error', () => undefined);
    });
  });
  await done;
  t.ok(finished, 'the page producer was returned');
  t.ok(pulled >= 1);
});
