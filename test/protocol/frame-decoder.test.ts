import t from 'tap';
import { FrameDecoder } from '../../src/protocol/frame-decoder';
import { DEFAULT_MAX_FRAME, ProtocolError } from '../../src/protocol/messages';
import { frame } from './helpers';

/** Pushes every chunk, collecting payloads as hex; returns them with the first error. */
function run(decoder: FrameDecoder, chunks: Buffer[]): { frames: string[]; error: ProtocolError | undefined } {
  const frames: string[] = [];
  let error: ProtocolError | undefined;
  for (const chunk of chunks) {
    error = decoder.push(chunk, (p) => {
      frames.push(p.toString('hex'));
    });
    if (error) break;
  }
  return { frames, error };
}

const payloads = [Buffer.from('a'), Buffer.from('hello world'), Buffer.alloc(300, 7), Buffer.from('zz')];
const stream = Buffer.concat(payloads.map((p) => frame(p)));
const expected = payloads.map((p) => p.toString('hex'));

t.test('one chunk holding many frames', async (t) => {
  t.same(run(new FrameDecoder(), [stream]), { frames: expected, error: undefined });
});

t.test('every split point of a multi-frame stream gives the same frames', async (t) => {
  for (let i = 0; i <= stream.length; i++) {
    const got = run(new FrameDecoder(), [stream.subarray(0, i), stream.subarray(i)]);
    if (got.error || got.frames.join() !== expected.join()) {
      t.fail(`split at ${i}`, got);
      return;
    }
  }
  t.pass(`all ${stream.length + 1} splits`);
});

t.test('every pair of split points (three chunks)', async (t) => {
  const small = Buffer.concat([frame(Buffer.from('ab')), frame(Buffer.from('cde')), frame(Buffer.from('f'))]);
  const want = ['ab', 'cde', 'f'].map((s) => Buffer.from(s).toString('hex'));
  let checked = 0;
  for (let i = 0; i <= small.length; i++) {
    for (let j = i; j <= small.length; j++) {
      const got = run(new FrameDecoder(), [small.subarray(0, i), small.subarray(i, j), small.subarray(j)]);
      t.same(got, { frames: want, error: undefined }, `splits ${i},${j}`);
      checked++;
    }
  }
  t.equal(checked, ((small.length + 1) * (small.length + 2)) / 2);
});

t.test('one byte at a time', async (t) => {
  const decoder = new FrameDecoder();
  const bytes = [...stream].map((b) => Buffer.from([b]));
  t.same(run(decoder, bytes), { frames: expected, error: undefined });
  t.equal(decoder.buffered, 0, 'nothing held once the stream ends on a frame boundary');
});

t.test('partial frames are held until complete', async (t) => {
  const decoder = new FrameDecoder();
  const f = frame(Buffer.from('abcdef'));
  t.same(run(decoder, [f.subarray(0, 6)]).frames, []);
  t.equal(decoder.buffered, 6);
  t.same(run(decoder, [f.subarray(6)]).frames, [Buffer.from('abcdef').toString('hex')]);
  t.equal(decoder.buffered, 0);
});

t.test('an empty chunk changes nothing', async (t) => {
  const decoder = new FrameDecoder();
  t.equal(decoder.push(Buffer.alloc(0), () => void t.fail('no frame')), undefined);
  t.equal(decoder.buffered, 0);
});

t.test('frames of exactly maxFrame bytes pass; split ones are assembled', async (t) => {
  const big = Buffer.alloc(DEFAULT_MAX_FRAME, 0xab);
  const whole = frame(big);
  t.same(run(new FrameDecoder(), [whole]).frames, [big.toString('hex')]);
  t.same(run(new FrameDecoder(), [whole.subarray(0, 1000), whole.subarray(1000)]).frames, [big.toString('hex')]);
});

t.test('frames inside one chunk are zero-copy views of it; split ones are copied', async (t) => {
  const chunk = frame(Buffer.from('xyz'));
  let seen: Buffer | undefined;
  new FrameDecoder().push(chunk, (p) => {
    seen = p;
  });
  chunk[4] = 0x41; // 'A'
  t.equal(seen?.toString(), 'Ayz', 'a view of the chunk: no copy was made');
  const first = frame(Buffer.from('xyz'));
  const second = Buffer.from(first);
  const decoder = new FrameDecoder();
  decoder.push(first.subarray(0, 5), () => void t.fail('incomplete'));
  decoder.push(second.subarray(5), (p) => {
    seen = p;
  });
  first.fill(0);
  second.fill(0);
  t.equal(seen?.toString(), 'xyz', 'assembled into its own buffer');
});

t.test('a zero length is refused from the 4 header bytes alone', async (t) => {
  const decoder = new FrameDecoder();
  const error = decoder.push(Buffer.from([0, 0, 0, 0]), () => void t.fail('no frame'));
  t.ok(error instanceof ProtocolError);
  t.equal(error?.code, 'bad_frame');
  t.equal(error?.message, 'frame length 0: a frame must hold one message');
});

t.test('an oversized length is refused from the 4 header bytes alone', async (t) => {
  const decoder = new FrameDecoder();
  const error = decoder.push(Buffer.from([0, 1, 0, 1]), () => void t.fail('no frame'));
  t.equal(error?.code, 'bad_frame');
  t.equal(error?.message, 'frame length 65537 exceeds the maximum of 65536');
  t.equal(decoder.buffered, 0, 'no payload buffered');
});

t.test('a bad header split across pushes is refused once its 4th byte arrives', async (t) => {
  const decoder = new FrameDecoder({ maxFrame: 10 });
  t.equal(decoder.push(Buffer.from([0, 0]), () => void t.fail('no frame')), undefined);
  t.equal(decoder.push(Buffer.from([0]), () => void t.fail('no frame')), undefined);
  const error = decoder.push(Buffer.from([11]), () => void t.fail('no frame'));
  t.equal(error?.message, 'frame length 11 exceeds the maximum of 10');
});

t.test('a bad header after a good frame in the same chunk', async (t) => {
  const decoder = new FrameDecoder();
  const got = run(decoder, [Buffer.concat([frame(Buffer.from('ok')), Buffer.from([0xff, 0xff, 0xff, 0xff])])]);
  t.same(got.frames, [Buffer.from('ok').toString('hex')]);
  t.equal(got.error?.message, 'frame length 4294967295 exceeds the maximum of 65536');
});

t.test('a bad header completing a split frame then following in the same chunk', async (t) => {
  const decoder = new FrameDecoder();
  const good = frame(Buffer.from('abc'));
  run(decoder, [good.subarray(0, 5)]);
  const got = run(decoder, [Buffer.concat([good.subarray(5), Buffer.from([0, 0, 0, 0])])]);
  t.same(got.frames, [Buffer.from('abc').toString('hex')]);
  t.equal(got.error?.code, 'bad_frame');
});

t.test('after an error the decoder is poisoned', async (t) => {
  const decoder = new FrameDecoder();
  const first = decoder.push(Buffer.from([0, 0, 0, 0]), () => void t.fail('no frame'));
  const again = decoder.push(frame(Buffer.from('fine')), () => void t.fail('no frame after poisoning'));
  t.equal(again, first, 'the same error value');
  t.equal(decoder.error, first);
});

t.test('a handler returning an error stops decoding and poisons the decoder', async (t) => {
  const stop = new ProtocolError('bad_message', 'stop here');
  for (const chunks of [
    [stream],
    [stream.subarray(0, 7), stream.subarray(7)], // first frame (5 bytes) whole, second split
    [stream.subarray(0, 3), stream.subarray(3)], // first frame split
  ]) {
    const decoder = new FrameDecoder();
    const seen: string[] = [];
    let error: ProtocolError | undefined;
    for (const chunk of chunks) {
      error = decoder.push(chunk, (p) => {
        seen.push(p.toString('hex'));
        return stop;
      });
      if (error) break;
    }
    t.equal(error, stop);
    t.same(seen, [expected[0]], 'nothing after the stopping frame');
    t.equal(decoder.push(stream, () => void t.fail('poisoned')), stop);
  }
});

t.test('maxFrame must be an integer in 1..65536', async (t) => {
  t.throws(() => new FrameDecoder({ maxFrame: 0 }), { name: 'RangeError', message: 'maxFrame must be an integer in 1..65536, got 0' });
  t.throws(() => new FrameDecoder({ maxFrame: 65537 }), RangeError);
  t.throws(() => new FrameDecoder({ maxFrame: 1.5 }), RangeError);
  t.equal(new FrameDecoder({ maxFrame: 1 }).maxFrame, 1);
  t.equal(new FrameDecoder().maxFrame, DEFAULT_MAX_FRAME);
});
