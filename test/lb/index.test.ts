import t from 'tap';
import { ALGORITHMS, algorithmByName, isUpToDate, roundRobin, shuffle, staticAlgorithm } from '../../src/lb/index';
import { ALGORITHM_NAMES } from '../../src/protocol/algorithms';
import * as lb from '../../src/lb/index';
import * as zoneIndex from '../../src/lb/zone-index';

t.test('the registry holds exactly the algorithms named in types.ts', async (t) => {
  t.same([...ALGORITHMS.keys()].sort(), [...ALGORITHM_NAMES].sort());
  for (const name of ALGORITHM_NAMES) t.equal(algorithmByName(name)?.name, name);
  t.equal(algorithmByName('static'), staticAlgorithm);
  t.equal(algorithmByName('roundrobin'), roundRobin);
  t.equal(algorithmByName('shuffle'), shuffle);
});

t.test('unknown names resolve to nothing, including object-prototype names', async (t) => {
  for (const name of ['', 'RoundRobin', 'round-robin', ' static', '__proto__', 'constructor', 'toString']) {
    t.equal(algorithmByName(name), undefined, JSON.stringify(name));
  }
});

t.test('isUpToDate requires the same algorithm name, compared by value', async (t) => {
  const expected = ['M1', 'M2', 'M3'];
  // A name built at run time, as one decoded from a frame is: a different string object.
  const decodedName = ['round', 'robin'].join('');
  t.equal(isUpToDate(roundRobin, decodedName, expected, expected), true);
  t.equal(isUpToDate(roundRobin, 'static', expected, expected), false, 'different algorithm name');
  t.equal(isUpToDate(roundRobin, '', expected, expected), false, 'agent with no algorithm');
  t.equal(isUpToDate(roundRobin, 'roundrobin', ['M2', 'M3', 'M1'], expected), false, 'same name, list reordered');
});

t.test('isUpToDate applies each algorithm rule after the name check', async (t) => {
  const expected = ['M1', 'M2', 'M3'];
  const reordered = ['M2', 'M1', 'M3'];
  t.equal(isUpToDate(shuffle, 'shuffle', reordered, expected), true, 'shuffle: a set');
  t.equal(isUpToDate(staticAlgorithm, 'static', reordered, expected), false, 'static: an order');
  t.equal(isUpToDate(shuffle, 'roundrobin', reordered, expected), false, 'shuffle list under another name');
  t.equal(isUpToDate(staticAlgorithm, 'static', [], []), true, 'both empty');
  t.equal(isUpToDate(shuffle, 'shuffle', [], expected), false, 'empty agent list');
});

t.test('index re-exports the host index classes', async (t) => {
  t.equal(lb.HostIndex, zoneIndex.HostIndex);
  t.equal(lb.ZoneIndex, zoneIndex.ZoneIndex);
  t.equal(lb.HostIdError, zoneIndex.HostIdError);
});
