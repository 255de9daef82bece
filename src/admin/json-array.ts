/**
 * A JSON array response written in slices: GET /api/hosts of 100 000 hosts is ~30 MB of JSON,
 * and one JSON.stringify of it held the event loop ~0.7 s (no pings, no handshakes meanwhile).
 * Here at most SLICE items are serialized per turn of the loop, each slice written as a chunk.
 * The items come as an array or as pages pulled one at a time (a listing streamed from the
 * registry, so the whole fleet's views never exist at once). The bytes are exactly
 * JSON.stringify(items) + "\n".
 *
 * Between two slices the loop is always given a full turn (setImmediate), and the socket's
 * 'drain' is awaited first when it is full. 'drain' alone is not a turn: when the kernel takes
 * a write at once (a client on loopback reading as fast as we write), Node completes it
 * synchronously and emits 'drain' from process.nextTick, so a loop that only awaited 'drain'
 * ran every slice in one macrotask: 1.7-2 s at 100 000 hosts with no ping answered.
 */
import type http from 'node:http';
import { setImmediate as nextTurn } from 'node:timers/promises';

/** Items per slice: ~1 000 host views are ~300 KB and a few ms of serialization. */
export const JSON_ARRAY_SLICE = 1_000;

/** The items of a JSON array body: all at once, or pages pulled one at a time. */
export type JsonArraySource = readonly unknown[] | AsyncIterable<readonly unknown[]>;

/** The body of a response to be written by writeJsonArray. */
export class JsonArrayBody {
  constructor(readonly items: JsonArraySource) {}
}

/** Resolves on 'drain' or 'close', whichever comes first, leaving no listener behind. */
export function drained(response: http.ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      response.off('drain', done).off('close', done);
      resolve();
    };
    response.on('drain', done).on('close', done);
  });
}

/** The source as pages (an array is one page; it is cut into slices like any other). */
async function* pagesOf(items: JsonArraySource): AsyncIterable<readonly unknown[]> {
  if (Array.isArray(items)) yield items as readonly unknown[];
  else yield* items as AsyncIterable<readonly unknown[]>;
}

/**
 * Serializes `items` as JSON.stringify would, at most `slice` items per write and per turn
 * of the loop, onto `response` (headers already written). A page that throws ends the
 * function with that error, the body incomplete (the caller destroys the response, so the
 * client sees a truncated body, never a short list that looks whole).
 */
export async function writeJsonArray(response: http.ServerResponse, items: JsonArraySource, slice = JSON_ARRAY_SLICE): Promise<void> {
  let gone = false;
  response.once('close', () => (gone = true));
  let written = 0;
  for await (const page of pagesOf(items)) {
    for (let start = 0; start < page.length; start += slice) {
      if (written > 0) {
        if (response.writableNeedDrain) await drained(response);
        await nextTurn();
      }
      // Leaving the loop returns the page iterator: its producer stops reading.
      if (gone) return;
      const parts: string[] = [];
      const end = Math.min(page.length, start + slice);
      // JSON.stringify writes null for an array element that has no JSON form (undefined, a function).
      for (let i = start; i < end; i++) parts.push(JSON.stringify(page[i]) ?? 'null');
      response.write((written === 0 ? '[' : ',') + parts.join(','));
      written += end - start;
    }
  }
  if (gone) return;
  if (written === 0) response.write('[');
  response.end(']\n');
}
