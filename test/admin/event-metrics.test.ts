/**
 * EventCounter, EventCounter2 and EventHistogram (src/admin/event-*.ts) count in plain numbers and hand them
 * to prom-client when scraped: their exposition must be byte for byte what prom-client's own
 * Counter and Histogram print for the same events, zeros, order and `le` labels included.
 */
import { Counter, Histogram, Registry } from 'prom-client';
import t from 'tap';
import { EventCounter, EventCounter2 } from '../../src/admin/event-counter';
import { EventHistogram } from '../../src/admin/event-histogram';

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

t.test('a counter by one label prints what a prom-client Counter prints', async (t) => {
  const ours = new Registry();
  const theirs = new Registry();
  const counter = new EventCounter(ours, 'x_total', 'Things.', 'result', ['ok', 'closed', 'bad']);
  const reference = new Counter({ name: 'x_total', help: 'Things.', labelNames: ['result'], registers: [theirs] });
  for (const result of ['ok', 'closed', 'bad']) reference.inc({ result }, 0);
  t.equal(await ours.metrics(), await theirs.metrics(), 'known values at 0 from the start');
  for (const result of ['ok', 'ok', 'bad', 'late_value', 'ok', 'late_value']) {
    counter.inc(result);
    reference.inc({ result });
  }
  t.equal(await ours.metrics(), await theirs.metrics(), 'counts, and a value not known up front after the known ones');
  t.equal(await ours.metrics(), await theirs.metrics(), 'a second scrape changes nothing');
});

t.test('a counter by two labels prints what a prom-client Counter prints', async (t) => {
  const ours = new Registry();
  const theirs = new Registry();
  const counter = new EventCounter2(ours, 'c_total', 'Calls.', ['method', 'outcome'], [['other', 'ok'], ['other', 'error']]);
  const reference = new Counter({ name: 'c_total', help: 'Calls.', labelNames: ['method', 'outcome'], registers: [theirs] });
  for (const outcome of ['ok', 'error']) reference.inc({ method: 'other', outcome }, 0);
  t.equal(await ours.metrics(), await theirs.metrics(), 'known pairs at 0 from the start');
  for (const [method, outcome] of [['echo', 'ok'], ['other', 'error'], ['echo', 'timeout'], ['echo', 'ok'], ['ping', 'ok']] as const) {
    counter.inc(method, outcome);
    reference.inc({ method, outcome });
  }
  t.equal(await ours.metrics(), await theirs.metrics(), 'counts, and pairs not known up front in the order first seen');
  t.equal(await ours.metrics(), await theirs.metrics(), 'a second scrape changes nothing');
});

t.test('a histogram prints what a prom-client Histogram prints', async (t) => {
  const ours = new Registry();
  const theirs = new Registry();
  const histogram = new EventHistogram(ours, 'd_seconds', 'Durations.', BUCKETS);
  const reference = new Histogram({ name: 'd_seconds', help: 'Durations.', buckets: BUCKETS, registers: [theirs] });
  t.equal(await ours.metrics(), await theirs.metrics(), 'empty: every bucket at 0');
  // On a bound (le is inclusive), between bounds, above every bound, zero, tiny, fractional sums.
  const values = [0.0005, 0.0007, 0.001, 0.003, 0.1, 10, 11, 0, 1e-9, 2.5, 0.3333, 42.125];
  for (const value of values) {
    histogram.record(value);
    reference.observe(value);
  }
  t.equal(await ours.metrics(), await theirs.metrics(), 'buckets, +Inf, sum and count');
  histogram.record(Number.NaN);
  t.equal(await ours.metrics(), await theirs.metrics(), 'a value that is not a number is not counted');
  const [json] = await ours.getMetricsAsJSON();
  const [referenceJson] = await theirs.getMetricsAsJSON();
  t.same(json, referenceJson, 'the JSON form too');
  ours.resetMetrics();
  theirs.resetMetrics();
  histogram.record(0.004);
  reference.observe(0.004);
  t.equal(await ours.metrics(), await theirs.metrics(), 'after a reset');
});
