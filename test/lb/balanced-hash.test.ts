import t from 'tap';
import { hostWeight, idHigh, idLow, seedRank, serverSeed, weightOfWords } from '../../src/lb/balanced-hash';

t.test('pinned values: every server version must compute the same weights', async (t) => {
  // Servers of one cluster may run different agentlb versions during an upgrade; if these
  // change, mixed-version clusters plan different lists. Change them only deliberately.
  const seed = serverSeed('10.0.0.1:8250');
  t.same(seed, { a: 1802295985, b: 2217275891 });
  t.equal(hostWeight(1, seed), 7331796194205);
  t.equal(hostWeight(2 ** 32 + 1, seed), 810126622853);
  t.equal(seedRank(seed), 602206740);
});

t.test('weights are integers in [0, 2^44), and ids above 2^32 hash their high word', async (t) => {
  const seed = serverSeed('m1');
  for (const id of [0, 1, 2, 65_535, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 3, Number.MAX_SAFE_INTEGER]) {
    const weight = hostWeight(id, seed);
    t.ok(Number.isInteger(weight) && weight >= 0 && weight < 2 ** 44, `id ${id}: ${weight}`);
    t.equal(weightOfWords(idLow(id), idHigh(id), seed), weight, `id ${id}: words agree`);
  }
  t.not(hostWeight(5, seed), hostWeight(5 + 2 ** 32, seed), 'same low word, different high word');
  t.equal(idHigh(2 ** 40 + 3), 2 ** 8);
  t.equal(idLow(2 ** 40 + 3), 3);
});

t.test('well distributed: each of 5 servers is the top choice of about a fifth of 20 000 hosts', async (t) => {
  // Consecutive ids and near-identical entries are the worst case for a weak hash.
  const seeds = ['10.0.0.1:8250', '10.0.0.2:8250', '10.0.0.3:8250', '10.0.0.4:8250', '10.0.0.5:8250'].map(serverSeed);
  const tops = new Array<number>(seeds.length).fill(0);
  const hosts = 20_000;
  for (let id = 1; id <= hosts; id++) {
    let best = 0;
    for (let s = 1; s < seeds.length; s++) if (hostWeight(id, seeds[s]!) > hostWeight(id, seeds[best]!)) best = s;
    tops[best]!++;
  }
  // Binomial(20 000, 0.2) has sd ≈ 57: ±300 is over 5 sd, yet far tighter than a weak hash gives.
  for (const count of tops) t.ok(Math.abs(count - hosts / 5) < 300, `top choice of ${count}`);
});

t.test('different entries get different seeds, and the seed depends on every character', async (t) => {
  const entries = ['m1', 'm2', '1m', 'm1:8250', '[::1]:8250', 'é', ''];
  const seen = new Set(entries.map((entry) => JSON.stringify(serverSeed(entry))));
  t.equal(seen.size, entries.length);
});
