import t from 'tap';
import { benchCodec } from '../../native-bench/micro-codec';

t.test('benchCodec reports one row per operation (no timing asserted)', async (t) => {
  const rows = benchCodec({ iterations: 50 });
  t.same(
    rows.map((r) => r.name),
    ['encode hello', 'decode+validate hello', 'encode hosts (3 entries)'],
  );
  for (const row of rows) {
    t.ok(Number.isFinite(row.opsPerSec) && row.opsPerSec > 0, `${row.name} ops/s is a positive number`);
    t.ok(Number.isFinite(row.nsPerOp) && row.nsPerOp > 0, `${row.name} ns/op is a positive number`);
  }
});
