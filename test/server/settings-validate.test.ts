/** parseSettingsPatch / validateSettings / parseSettings: every refusal names the key and the bad value. */
import t from 'tap';
import { parseSettings, parseSettingsPatch, validateSettings } from '../../src/settings/validate';
import { DEFAULT_SETTINGS, SettingsError, type Settings } from '../../src/settings/types';

function refusal(body: unknown): string {
  const result = parseSettingsPatch(body);
  if (!(result instanceof SettingsError)) throw new Error(`accepted: ${JSON.stringify(result)}`);
  t.equal(result.code, 'bad_setting');
  return result.message;
}

t.test('accepted patches, normalised', async (t) => {
  t.same(parseSettingsPatch({ host: ' m1 , m2:8250,[::1]:9 ' }), { host: 'm1,m2:8250,[::1]:9' });
  t.same(parseSettingsPatch({ 'indirect.agent.lb.algorithm': 'shuffle', 'indirect.agent.lb.check.interval': 0 }), {
    'indirect.agent.lb.algorithm': 'shuffle',
    'indirect.agent.lb.check.interval': 0,
  });
  t.same(parseSettingsPatch({ 'indirect.agent.lb.check.interval': 86_400 }), { 'indirect.agent.lb.check.interval': 86_400 });
});

t.test('refused bodies', async (t) => {
  t.equal(refusal(null), 'settings must be a JSON object, got null');
  t.equal(refusal([1]), 'settings must be a JSON object, got an array');
  t.equal(refusal('host=M1'), 'settings must be a JSON object, got a string "host=M1"');
  t.equal(refusal({}), 'no setting given: set at least one of host, indirect.agent.lb.algorithm, indirect.agent.lb.check.interval, indirect.agent.lb.rebalance, indirect.agent.lb.rebalance.threshold, indirect.agent.lb.rebalance.grace');
  t.equal(refusal({ Host: 'M1' }), 'unknown setting "Host" (known: host, indirect.agent.lb.algorithm, indirect.agent.lb.check.interval, indirect.agent.lb.rebalance, indirect.agent.lb.rebalance.threshold, indirect.agent.lb.rebalance.grace)');
  t.equal(refusal(JSON.parse('{"__proto__": {"x": 1}}')), 'unknown setting "__proto__" (known: host, indirect.agent.lb.algorithm, indirect.agent.lb.check.interval, indirect.agent.lb.rebalance, indirect.agent.lb.rebalance.threshold, indirect.agent.lb.rebalance.grace)');
});

t.test('refused host values name the value and the bad entry', async (t) => {
  t.equal(refusal({ host: 5 }), 'host must be a string, got a number 5');
  t.equal(refusal({ host: '   ' }), 'host "   " is refused: empty host list');
  t.equal(refusal({ host: 'M1,M1' }), 'host "M1,M1" is refused: duplicate entry "M1" (same as "M1")');
  t.equal(refusal({ host: 'M1,M2:99999' }), 'host "M1,M2:99999" is refused: entry "M2:99999" has a bad port "99999" (expected 1..65535)');
  t.equal(refusal({ host: '@MSHOST@' }), 'host "@MSHOST@" is refused: entry "@MSHOST@" is an unfilled placeholder');
});

t.test('refused algorithms and intervals', async (t) => {
  t.equal(refusal({ 'indirect.agent.lb.algorithm': 'RoundRobin' }), 'indirect.agent.lb.algorithm "RoundRobin" is not one of static, roundrobin, shuffle, balanced');
  t.equal(refusal({ 'indirect.agent.lb.algorithm': '' }), 'indirect.agent.lb.algorithm "" is not one of static, roundrobin, shuffle, balanced');
  t.equal(refusal({ 'indirect.agent.lb.algorithm': null }), 'indirect.agent.lb.algorithm must be a string (one of static, roundrobin, shuffle, balanced), got null');
  const interval = 'indirect.agent.lb.check.interval must be an integer number of seconds from 0 to 86400, got';
  t.equal(refusal({ 'indirect.agent.lb.check.interval': 1.5 }), `${interval} 1.5`);
  t.equal(refusal({ 'indirect.agent.lb.check.interval': -1 }), `${interval} -1`);
  t.equal(refusal({ 'indirect.agent.lb.check.interval': 86_401 }), `${interval} 86401`);
  t.equal(refusal({ 'indirect.agent.lb.check.interval': '60' }), `${interval} "60"`);
  t.equal(refusal({ 'indirect.agent.lb.check.interval': { s: 1 } }), `${interval} an object`);
});

t.test('validateSettings checks a whole stored value', async (t) => {
  t.equal(validateSettings({ ...DEFAULT_SETTINGS }), undefined);
  t.equal(validateSettings({ ...DEFAULT_SETTINGS, host: '' }), 'host "" is refused: empty host list');
  t.equal(
    validateSettings({ ...DEFAULT_SETTINGS, 'indirect.agent.lb.algorithm': 'fastest' } as unknown as Settings),
    'indirect.agent.lb.algorithm "fastest" is not one of static, roundrobin, shuffle, balanced',
  );
});

t.test('rebalance settings: accepted at their bounds, refused naming the value', async (t) => {
  t.same(parseSettingsPatch({ 'indirect.agent.lb.rebalance': 'off', 'indirect.agent.lb.rebalance.threshold': 1, 'indirect.agent.lb.rebalance.grace': 0 }), {
    'indirect.agent.lb.rebalance': 'off',
    'indirect.agent.lb.rebalance.threshold': 1,
    'indirect.agent.lb.rebalance.grace': 0,
  });
  t.same(parseSettingsPatch({ 'indirect.agent.lb.rebalance.threshold': 100, 'indirect.agent.lb.rebalance.grace': 86_400 }), {
    'indirect.agent.lb.rebalance.threshold': 100,
    'indirect.agent.lb.rebalance.grace': 86_400,
  });
  t.equal(refusal({ 'indirect.agent.lb.rebalance': 'on' }), 'indirect.agent.lb.rebalance must be one of auto, off, got "on"');
  t.equal(refusal({ 'indirect.agent.lb.rebalance': 'Auto' }), 'indirect.agent.lb.rebalance must be one of auto, off, got "Auto"');
  t.equal(refusal({ 'indirect.agent.lb.rebalance': true }), 'indirect.agent.lb.rebalance must be one of auto, off, got a boolean true');
  const threshold = 'indirect.agent.lb.rebalance.threshold must be an integer percentage from 1 to 100, got';
  t.equal(refusal({ 'indirect.agent.lb.rebalance.threshold': 0 }), `${threshold} 0`);
  t.equal(refusal({ 'indirect.agent.lb.rebalance.threshold': 101 }), `${threshold} 101`);
  t.equal(refusal({ 'indirect.agent.lb.rebalance.threshold': 12.5 }), `${threshold} 12.5`);
  t.equal(refusal({ 'indirect.agent.lb.rebalance.threshold': '20' }), `${threshold} "20"`);
  const grace = 'indirect.agent.lb.rebalance.grace must be an integer number of seconds from 0 to 86400, got';
  t.equal(refusal({ 'indirect.agent.lb.rebalance.grace': -1 }), `${grace} -1`);
  t.equal(refusal({ 'indirect.agent.lb.rebalance.grace': 86_401 }), `${grace} 86401`);
  t.equal(refusal({ 'indirect.agent.lb.rebalance.grace': null }), `${grace} null`);
  t.equal(validateSettings({ ...DEFAULT_SETTINGS, 'indirect.agent.lb.rebalance': 'sometimes' } as unknown as Settings), 'indirect.agent.lb.rebalance must be one of auto, off, got "sometimes"');
  t.same(
    [DEFAULT_SETTINGS['indirect.agent.lb.rebalance'], DEFAULT_SETTINGS['indirect.agent.lb.rebalance.threshold'], DEFAULT_SETTINGS['indirect.agent.lb.rebalance.grace']],
    ['auto', 20, 60],
    'defaults',
  );
});

t.test('parseSettings hands back what it checked: the host entries and the algorithm, frozen', async (t) => {
  const stored: Settings = { ...DEFAULT_SETTINGS, host: ' M1:8250 , [::1]:9 ', 'indirect.agent.lb.algorithm': 'roundrobin' };
  const parsed = parseSettings(stored);
  if (parsed instanceof SettingsError) throw parsed;
  t.same(parsed.servers, ['M1:8250', '[::1]:9'], 'entries trimmed, as written');
  t.equal(parsed.algorithm, 'roundrobin');
  t.same(parsed.settings, stored);
  t.not(parsed.settings, stored, 'a copy: the caller may change its own value');
  t.ok(Object.isFrozen(parsed.settings) && Object.isFrozen(parsed.servers));
  const bad = parseSettings({ ...DEFAULT_SETTINGS, 'indirect.agent.lb.check.interval': -1 });
  t.ok(bad instanceof SettingsError);
  t.equal((bad as SettingsError).message, validateSettings({ ...DEFAULT_SETTINGS, 'indirect.agent.lb.check.interval': -1 }));
  t.equal((parseSettings({ ...DEFAULT_SETTINGS, host: '' }) as SettingsError).message, 'host "" is refused: empty host list');
});
