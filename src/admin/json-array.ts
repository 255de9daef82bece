/**
 * A JSON array response written in slices: GET /api/hosts of 100 000 hosts is ~20 MB of JSON,
 * and one JSON.stringify of it held the event loop ~0.7 s (no pings, no handshakes meanwhile).
 * Here SLICE items are serialized per turn of the loop, each slice written as a chunk, and the
 * next slice waits for the socket to drain when it is full, so a slow reader costs memory of
 * one slice, not of the whole body. The bytes are exactly JSON.stringify(items) + "\n".
 */
import type http from 'node:http';
import { setImmediate as nextTurn } from 'node:timers/promises';

/** Items per slice: ~1 000 host views are ~200 KB and a few ms of serialization. */
export const JSON_ARRAY_SLICE = 1_000;

/** The body of a response to be written by writeJsonArray. */
export class JsonArrayBody {
  constructor(readonly items: readonly unknown[]) {}
}

/** Resolves on 'drain' or 'close', whichever comes first, leaving no listener behind. */
function drained(response: http.ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      response.off('drain', done).off('close', done);
      resolve();
    };
    response.on('drain', done).on('close', done);
  });
}

/** Serializes `items` as JSON.stringify would, slice by slice, onto `response` (headers already written). */
export async function writeJsonArray(response: http.ServerResponse, items: readonly unknown[], slice = JSON_ARRAY_SLICE): Promise<void> {
  let gone = false;
  response.once('close', () => (gone = true));
  for (let start = 0; start < items.length || start === 0; start += slice) {
    if (start > 0) {
      // Give the loop back; wait for the socket when it holds a slice already.
      if (response.writableNeedDrain) await drained(response);
      else await nextTurn();
    }
    if (gone) return;
    const parts: string[] = [];
    const end = Math.min(items.length, start + slice);
    // JSON.stringify writes null for an array element that has no JSON form (undefined, a function).
    for (let i = start; i < end; i++) parts.push(JSON.stringify(items[i]) ?? 'null');
    const open = start === 0 ? '[' : ',';
    const close = end === items.length ? ']\n' : '';
    response.write(open + parts.join(',') + close);
    if (end === items.length) break;
  }
  response.end();
}
