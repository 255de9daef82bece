/** The avoid list: draining or down servers moved to the end of every list, as written. */
import t from 'tap';
import { AvoidList, AvoidSources } from '../../src/lb/avoid';

t.test('avoided entries go last, each part in its order; nothing to move returns the list itself', async (t) => {
  const avoid = AvoidList.of(['M1', 'M3']);
  const list = Object.freeze(['M1', 'M2', 'M3', 'M4']);
  t.same(avoid.apply(list), ['M2', 'M4', 'M1', 'M3']);
  t.equal(avoid.apply(list), avoid.apply(list), 'the same array for the same list (one encoded frame per list)');
  const already = Object.freeze(['M2', 'M4', 'M3', 'M1']);
  t.equal(avoid.apply(already), already, 'already in place: unchanged, same instance');
  const other = Object.freeze(['M2', 'M4']);
  t.equal(avoid.apply(other), other, 'no avoided entry: unchanged');
  t.equal(AvoidList.EMPTY.apply(list), list);
});

t.test('entries match exactly as written, not by what they resolve to', async (t) => {
  const avoid = AvoidList.of(['m1.example:8250']);
  t.same(avoid.apply(['m1.example', 'M2']), ['m1.example', 'M2'], 'no port written: another entry');
  t.same(avoid.apply(['M1.EXAMPLE:8250', 'M2']), ['M1.EXAMPLE:8250', 'M2'], 'case differs: another entry');
  t.same(avoid.apply(['m1.example:8250', 'M2']), ['M2', 'm1.example:8250']);
});

t.test('respectedBy: every avoided entry after every other entry', async (t) => {
  const avoid = AvoidList.of(['M1']);
  t.equal(avoid.respectedBy(['M2', 'M3', 'M1']), true);
  t.equal(avoid.respectedBy(['M2', 'M3']), true, 'absent counts as respected');
  t.equal(avoid.respectedBy(['M2', 'M1', 'M3']), false);
  t.equal(AvoidList.of(['M1', 'M2']).respectedBy(['M3', 'M2', 'M1']), true, 'avoided ones may be in any order among themselves');
  t.equal(AvoidList.EMPTY.respectedBy(['M1']), true);
});

t.test('equality, size and sorted addresses', async (t) => {
  t.equal(AvoidList.of(['b', 'a']).equals(AvoidList.of(['a', 'b'])), true);
  t.equal(AvoidList.of(['a']).equals(AvoidList.of(['a', 'b'])), false);
  t.equal(AvoidList.of(['a', 'c']).equals(AvoidList.of(['a', 'b'])), false);
  t.equal(AvoidList.of([]), AvoidList.EMPTY);
  t.same(AvoidList.of(['M3', 'M1']).sorted(), ['M1', 'M3']);
  t.equal(AvoidList.of(['M3', 'M1']).has('M3'), true);
});

t.test('sources: each replaced as a whole; the list is their union', async (t) => {
  const sources = new AvoidSources();
  t.same(sources.set('draining', ['M1']).sorted(), ['M1']);
  t.same(sources.set('down', ['M2', 'M1']).sorted(), ['M1', 'M2']);
  t.same(sources.set('draining', []).sorted(), ['M1', 'M2'], 'M1 still down');
  t.same(sources.set('down', []).sorted(), []);
  t.equal(sources.union(), AvoidList.EMPTY);
});
