/**
 * The agent's update pipeline on its own (agent/update-pipeline.ts): the order updates are
 * applied and acked in, holding a source's updates while a check runs, releasing them in order
 * after it, dropping them after a switch, and settle() waiting for what was accepted meanwhile.
 * Saves are real (a temp agent.properties); a test that needs a save to stay in flight paces it
 * through the injected `save`, which then writes the file for real.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { Ack, Hosts } from '../../src/protocol/messages';
import { parseProperties, savePropertiesFile, type PropertiesDoc } from '../../agent/properties';
import { UpdatePipeline, type UpdateSource } from '../../agent/update-pipeline';
import { tempDir } from './harness';

const PORT = 8250;

function hosts(seq: number, list: string[] = [`m${seq}:8250`], checkInterval = 0): Hosts {
  return { type: 'hosts', seq, hosts: list, algorithm: 'roundrobin', checkInterval };
}

interface Source extends UpdateSource {
  acks: Ack[];
}

function source(text: string, trace: string[]): Source {
  const acks: Ack[] = [];
  return {
    server: { text },
    acks,
    sendAck(ack) {
      acks.push(ack);
      trace.push(`ack ${text} ${ack.seq} ${ack.ok ? 'ok' : `refused: ${ack.error ?? ''}`}`);
    },
  };
}

interface Rig {
  pipeline: UpdatePipeline;
  trace: string[];
  logs: { level: string; fields: object; message: string }[];
  path: string;
  doc: () => PropertiesDoc;
  /** With `paced`: saves wait for release(); saves started so far, in order. */
  releaseSave: () => void;
  savesStarted: () => number;
}

async function rig(t: Test, options: { paced?: boolean; failSave?: boolean; adopt?: (msg: Hosts) => void; text?: string } = {}): Promise<Rig> {
  const dir = await tempDir(t, 'update-pipeline-');
  const path = join(dir, 'agent.properties');
  let doc = parseProperties(options.text ?? '# kept\nhost=m0:8250@roundrobin\nguid=g\n');
  await savePropertiesFile(path, doc);
  const trace: string[] = [];
  const logs: Rig['logs'] = [];
  const waiting: (() => void)[] = [];
  let started = 0;
  const log = (level: string) => (fields: object, message: string) => void logs.push({ level, fields, message });
  const pipeline = new UpdatePipeline({
    propertiesPath: path,
    current: () => ({ doc, port: PORT }),
    adopt(msg, next, persisted) {
      options.adopt?.(msg);
      doc = next;
      trace.push(`adopt ${msg.seq}${persisted ? ' persisted' : ''}`);
    },
    applied: (msg) => void trace.push(`applied ${msg.seq}`),
    refused: (seq, reason) => void trace.push(`refused ${seq}: ${reason}`),
    logger: { debug: log('debug'), info: log('info'), error: log('error') },
    save: async (file, next) => {
      started += 1;
      trace.push(`save start ${next.get('host') ?? ''}`);
      if (options.paced === true) await new Promise<void>((resolve) => waiting.push(resolve));
      if (options.failSave === true) throw new Error('disk full');
      await savePropertiesFile(file, next);
      trace.push(`save end ${next.get('host') ?? ''}`);
    },
  });
  return {
    pipeline,
    trace,
    logs,
    path,
    doc: () => doc,
    releaseSave: () => waiting.shift()?.(),
    savesStarted: () => started,
  };
}

/** Lets pending promise callbacks run (a save in flight stays in flight: it waits on releaseSave). */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Waits until `count` saves have started (the pipeline is awaiting the paced save). */
async function savesStarted(r: Rig, count: number): Promise<void> {
  while (r.savesStarted() < count) await turn();
}

t.test('updates are applied and acked one at a time, in arrival order: saves never overlap', async (t) => {
  const r = await rig(t, { paced: true });
  const m = source('m0:8250', r.trace);
  r.pipeline.enqueue(m, hosts(1));
  r.pipeline.enqueue(m, hosts(2));
  r.pipeline.enqueue(m, hosts(3));
  await savesStarted(r, 1);
  await turn();
  t.same(r.trace, ['save start m1:8250@roundrobin'], 'the second save waits for the first');
  r.releaseSave();
  await savesStarted(r, 2);
  r.releaseSave();
  await savesStarted(r, 3);
  r.releaseSave();
  await r.pipeline.settle();
  t.same(r.trace, [
    'save start m1:8250@roundrobin',
    'save end m1:8250@roundrobin',
    'adopt 1 persisted',
    'ack m0:8250 1 ok',
    'applied 1',
    'save start m2:8250@roundrobin',
    'save end m2:8250@roundrobin',
    'adopt 2 persisted',
    'ack m0:8250 2 ok',
    'applied 2',
    'save start m3:8250@roundrobin',
    'save end m3:8250@roundrobin',
    'adopt 3 persisted',
    'ack m0:8250 3 ok',
    'applied 3',
  ]);
  t.equal(await readFile(r.path, 'latin1'), '# kept\nhost=m3:8250@roundrobin\nguid=g\n', 'the last list is on file, comments kept');
});

t.test('an update that changes nothing is acked ok without a save', async (t) => {
  const r = await rig(t);
  const m = source('m0:8250', r.trace);
  r.pipeline.enqueue(m, hosts(7, ['m0:8250']));
  await r.pipeline.settle();
  t.same(r.trace, ['adopt 7', 'ack m0:8250 7 ok', 'applied 7']);
  t.equal(r.logs.at(-1)?.message, 'hosts update already on file');
});

t.test('a held source: its updates wait, others go on, release applies them in the order they came', async (t) => {
  const r = await rig(t);
  const old = source('m0:8250', r.trace);
  const other = source('m9:8250', r.trace);
  r.pipeline.enqueue(old, hosts(1));
  r.pipeline.hold(old);
  r.pipeline.enqueue(old, hosts(2));
  r.pipeline.enqueue(other, hosts(10));
  r.pipeline.enqueue(old, hosts(3));
  await r.pipeline.settle();
  t.same(
    r.trace.filter((line) => line.startsWith('ack')),
    ['ack m0:8250 1 ok', 'ack m9:8250 10 ok'],
    'accepted before the hold, and another source, are applied; the held two are not',
  );
  t.same(old.acks.map((ack) => ack.seq), [1], 'nothing held is acked');
  t.equal(r.doc().get('host'), 'm10:8250@roundrobin');
  t.same(
    r.logs.filter((line) => line.level === 'debug').map((line) => line.fields),
    [
      { server: 'm0:8250', seq: 2 },
      { server: 'm0:8250', seq: 3 },
    ],
  );

  r.pipeline.release(other); // not the held source: a no-op
  await r.pipeline.settle();
  t.same(old.acks.map((ack) => ack.seq), [1], 'releasing another source releases nothing');

  r.pipeline.release(old);
  await r.pipeline.settle();
  t.same(old.acks.map((ack) => `${ack.seq} ${ack.ok}`), ['1 true', '2 true', '3 true'], 'released in order, each acked once');
  t.equal(r.doc().get('host'), 'm3:8250@roundrobin', 'the last held update is the list held');
  r.pipeline.enqueue(old, hosts(4));
  await r.pipeline.settle();
  t.same(old.acks.map((ack) => ack.seq), [1, 2, 3, 4], 'after release the source is no longer held');
});

t.test('released updates queue behind a save already in flight', async (t) => {
  const r = await rig(t, { paced: true });
  const m = source('m0:8250', r.trace);
  r.pipeline.enqueue(m, hosts(1));
  await savesStarted(r, 1);
  r.pipeline.hold(m);
  r.pipeline.enqueue(m, hosts(2));
  r.pipeline.release(m);
  let settled = false;
  const settling = r.pipeline.settle().then(() => void (settled = true));
  await turn();
  t.equal(settled, false, 'settle waits for the save in flight');
  r.releaseSave();
  await savesStarted(r, 2);
  t.equal(settled, false, 'and for the released update accepted meanwhile');
  r.releaseSave();
  await settling;
  t.same(
    r.trace.filter((line) => !line.startsWith('save')),
    ['adopt 1 persisted', 'ack m0:8250 1 ok', 'applied 1', 'adopt 2 persisted', 'ack m0:8250 2 ok', 'applied 2'],
  );
});

t.test('settle does not wait for held updates', async (t) => {
  const r = await rig(t);
  const m = source('m0:8250', r.trace);
  r.pipeline.hold(m);
  r.pipeline.enqueue(m, hosts(1));
  await r.pipeline.settle();
  t.same(r.trace, []);
});

t.test('drop: held updates are neither applied nor acked, and the log names them', async (t) => {
  const r = await rig(t);
  const old = source('m0:8250', r.trace);
  r.pipeline.hold(old);
  r.pipeline.enqueue(old, hosts(5));
  r.pipeline.enqueue(old, hosts(6));
  r.pipeline.drop(old, 'm1:8250');
  r.pipeline.release(old); // after a drop there is nothing left to release
  await r.pipeline.settle();
  t.same(r.trace, []);
  t.same(old.acks, []);
  t.equal(r.doc().get('host'), 'm0:8250@roundrobin', 'the list is unchanged');
  t.same(r.logs.at(-1), {
    level: 'info',
    fields: { from: 'm0:8250', to: 'm1:8250', seqs: [5, 6] },
    message: 'hosts updates from m0:8250 not applied: superseded by the switch to m1:8250',
  });
});

t.test('drop with nothing held logs nothing; drop of another source keeps the hold', async (t) => {
  const r = await rig(t);
  const old = source('m0:8250', r.trace);
  const other = source('m9:8250', r.trace);
  r.pipeline.hold(old);
  r.pipeline.enqueue(old, hosts(1));
  r.pipeline.drop(other, 'm1:8250');
  r.pipeline.release(old);
  await r.pipeline.settle();
  t.same(old.acks.map((ack) => ack.seq), [1], 'still held by then, so release applied it');
  r.pipeline.hold(old);
  r.pipeline.drop(old, 'm1:8250');
  t.equal(r.logs.filter((line) => line.message.includes('not applied')).length, 0);
});

t.test('a bad update is refused with the reason, the last good list kept, the next applied', async (t) => {
  const r = await rig(t);
  const m = source('m0:8250', r.trace);
  r.pipeline.enqueue(m, { ...hosts(1), algorithm: 'fastest' });
  r.pipeline.enqueue(m, hosts(2, ['m2:8250'], -1));
  r.pipeline.enqueue(m, hosts(3));
  await r.pipeline.settle();
  t.equal(m.acks.length, 3);
  t.same(m.acks[0], { type: 'ack', seq: 1, ok: false, error: r.trace.find((line) => line.startsWith('refused 1: '))?.slice('refused 1: '.length) });
  t.match(m.acks[0]?.error, /fastest/, 'names the bad algorithm');
  t.match(m.acks[1]?.error, /host\.lb\.check\.interval.*-1/, 'names the bad interval');
  t.same(m.acks[2], { type: 'ack', seq: 3, ok: true });
  t.equal(await readFile(r.path, 'latin1'), '# kept\nhost=m3:8250@roundrobin\nguid=g\n');
});

t.test('a save that fails is refused as "cannot save", and memory stays with the file', async (t) => {
  const r = await rig(t, { failSave: true });
  const m = source('m0:8250', r.trace);
  r.pipeline.enqueue(m, hosts(1));
  await r.pipeline.settle();
  t.equal(m.acks.length, 1);
  t.equal(m.acks[0]?.ok, false);
  t.equal(m.acks[0]?.error, `cannot save ${r.path}: disk full`);
  t.notOk(r.trace.some((line) => line.startsWith('adopt')), 'not adopted');
  t.equal(r.doc().get('host'), 'm0:8250@roundrobin');
  t.equal(await readFile(r.path, 'latin1'), '# kept\nhost=m0:8250@roundrobin\nguid=g\n');
});

t.test('a fault while adopting is acked once as an internal error, and the queue goes on', async (t) => {
  const r = await rig(t, {
    adopt: (msg) => {
      if (msg.seq === 1) throw new Error('boom');
    },
  });
  const m = source('m0:8250', r.trace);
  r.pipeline.enqueue(m, hosts(1));
  r.pipeline.enqueue(m, hosts(2));
  await r.pipeline.settle();
  t.same(m.acks, [
    { type: 'ack', seq: 1, ok: false, error: 'internal error: Error: boom' },
    { type: 'ack', seq: 2, ok: true },
  ]);
  t.ok(r.logs.some((line) => line.level === 'error' && line.message === 'hosts update failed'));
});

t.test('settle waits for updates accepted while it waits, so the next hello sees the last list', async (t) => {
  const r = await rig(t, { paced: true });
  const m = source('m0:8250', r.trace);
  r.pipeline.enqueue(m, hosts(1));
  await savesStarted(r, 1);
  let settled = false;
  const settling = r.pipeline.settle().then(() => void (settled = true));
  r.pipeline.enqueue(m, hosts(2)); // accepted after settle() began
  r.releaseSave();
  await savesStarted(r, 2);
  await turn();
  t.equal(settled, false, 'still waiting: update 2 is saving');
  r.releaseSave();
  await settling;
  t.equal(r.doc().get('host'), 'm2:8250@roundrobin');
  t.same(m.acks.map((ack) => ack.seq), [1, 2]);
});
