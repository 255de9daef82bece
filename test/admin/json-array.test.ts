/**
 * The sliced JSON array (src/admin/json-array.ts): over a real HTTP server, the body is
 * byte for byte JSON.stringify(items) + "\n" at every slice boundary, and it is written one
 * slice per write (the loop is given back between them), never as one string of the whole list.
 */
import t from 'tap';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeJsonArray } from '../../src/admin/json-array';

async function serve(items: readonly unknown[], slice: number): Promise<{ body: string; writes: number }> {
  let writes = 0;
  const server = http.createServer((_request, response) => {
    const write = response.write.bind(response) as (chunk: string) => boolean;
    response.write = ((chunk: string) => {
      writes += 1;
      return write(chunk);
    }) as typeof response.write;
    response.writeHead(200, { 'content-type': 'application/json' });
    void writeJsonArray(response, items, slice);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const body = await (await fetch(`http://127.0.0.1:${port}/`)).text();
    return { body, writes };
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
