import t from 'tap';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  AGENT_KEY_CHECK_INTERVAL,
  AGENT_KEY_HOST,
  PropertiesError,
  loadPropertiesFile,
  parseProperties,
  savePropertiesFile,
} from '../../agent/properties';

// An operator's file: both comment styles, blank lines (one of them only whitespace), unknown
// keys, all three separator styles, escapes, continuations, CRLF on one line, and a comment
// line ending in a backslash (which must not continue).
const OPERATOR_FILE = [
  '# CloudStack agent configuration',
  '! managed by hand, do not regenerate \\',
  'workers=5',
  '',
  '   # indented comment',
  'host: 10.0.0.1,10.0.0.2@static',
  'zone  default',
  '\t ',
  'resource=com.cloud.hypervisor.kvm.resource.LibvirtComputingResource',
  'private.network.device = cloudbr0\r',
  'path\\ with\\ spaces=C:\\\\agent\\\\logs',
  'motd=first line\\n\\tsecond \\u00e9 \\',
  '     continued here',
  'host.lb.check.interval   =   60',
  'guid = 0a1b2c3d',
  '# trailing comment',
  '',
].join('\n');

t.test('updating host and host.lb.check.interval keeps every other byte', async (t) => {
  const doc = parseProperties(OPERATOR_FILE);
  t.equal(doc.toString(), OPERATOR_FILE, 'unchanged document round-trips exactly');
  doc.set(AGENT_KEY_HOST, '10.0.0.3:8250,10.0.0.1@roundrobin');
  doc.set(AGENT_KEY_CHECK_INTERVAL, '0');
  t.equal(
    doc.toString(),
    OPERATOR_FILE.replace('host: 10.0.0.1,10.0.0.2@static', 'host: 10.0.0.3:8250,10.0.0.1@roundrobin').replace(
      'host.lb.check.interval   =   60',
      'host.lb.check.interval   =   0',
    ),
  );
  t.same(doc.keys(), [
    'workers',
    'host',
    'zone',
    'resource',
    'private.network.device',
    'path with spaces',
    'motd',
    'host.lb.check.interval',
    'guid',
  ]);
});

t.test('get reads escapes, continuations and every separator style', async (t) => {
  const doc = parseProperties(OPERATOR_FILE);
  t.equal(doc.get('host'), '10.0.0.1,10.0.0.2@static', '`key: value`');
  t.equal(doc.get('zone'), 'default', '`key value`');
  t.equal(doc.get('host.lb.check.interval'), '60', 'whitespace around `=`');
  t.equal(doc.get('private.network.device'), 'cloudbr0', 'CRLF terminator');
  t.equal(doc.get('path with spaces'), 'C:\\agent\\logs', 'escaped spaces in the key, backslashes in the value');
  t.equal(doc.get('motd'), 'first line\n\tsecond \u00e9 continued here', 'continuation drops the leading whitespace');
  t.equal(doc.get('absent'), undefined);
  t.equal(doc.get('! managed by hand, do not regenerate'), undefined, 'comment lines are not keys');
});

t.test('reading follows java.util.Properties on the edge cases', async (t) => {
  const read = (text: string, key: string) => parseProperties(text).get(key);
  t.equal(read('a=1\na=2\n', 'a'), '2', 'last occurrence wins');
  t.equal(read('key', 'key'), '', 'a key alone has an empty value');
  t.equal(read('key   ', 'key'), '', 'trailing whitespace after a key');
  t.equal(read('key = =x', 'key'), '=x', 'only the first = is a separator');
  t.equal(read('key =:x', 'key'), ':x');
  t.equal(read('key :x', 'key'), 'x', 'whitespace then : is one separator');
  t.equal(read('a\\=b=c', 'a=b'), 'c', '\\= in a key');
  t.equal(read('a\\:b:c', 'a:b'), 'c', '\\: in a key');
  t.equal(read('\\#notcomment=1', '#notcomment'), '1', '\\# starts a key, not a comment');
  t.equal(read('\\!x=1', '!x'), '1');
  t.equal(read('k=v # not a comment', 'k'), 'v # not a comment', '# inside a value');
  t.equal(read('k=\\r\\f\\q', 'k'), '\r\fq', 'unknown escapes drop the backslash');
  t.equal(read('k=a\\\\\n', 'k'), 'a\\', 'an even run of backslashes does not continue');
  t.equal(read('k=a\\\\\\\nb', 'k'), 'a\\b', 'an odd run continues');
  t.equal(read('k=a\\\r\n  b', 'k'), 'ab', 'continuation across CRLF');
  t.equal(read('k=a\\\rb', 'k'), 'ab', 'continuation across a lone CR');
  t.equal(read('k=a\\\n\nb=c', 'b'), 'c', 'a blank line ends a continuation');
  t.equal(read('k=a\\\n#x=y', 'k'), 'a#x=y', 'a continued line is never a comment');
  t.equal(read('k=a\\', 'k'), 'a', 'a continuation at the end of the file is dropped');
  t.equal(read('k=a\\\n', 'k'), 'a');
  t.equal(read('\\u0041\\u00E9=\\u20ac', 'A\u00e9'), '\u20ac', '\\uXXXX in keys and values, either case');
  t.equal(read('k=v  ', 'k'), 'v  ', 'trailing whitespace is part of the value');
});

t.test('a malformed \\uXXXX is an error naming its line, as in Java', async (t) => {
  t.throws(() => parseProperties('# c\nok=1\nk=\\u12x4\n'), {
    name: 'PropertiesError',
    code: 'bad_escape',
    message: 'line 3: malformed \\uxxxx escape: \\u12x4',
  });
  t.throws(() => parseProperties('k=\\u12'), { code: 'bad_escape', message: 'line 1: malformed \\uxxxx escape: \\u12' });
});

t.test('set re-renders only its own line and escapes what must be escaped', async (t) => {
  const cases: Array<[string, string, string, string]> = [
    // [source, key, value, expected text]
    ['a=1\nb=2\n', 'a', 'x', 'a=x\nb=2\n'],
    ['  a : 1\n', 'a', 'x', '  a : x\n'],
    ['a 1\n', 'a', '=x', 'a \\=x\n'],
    ['a 1\n', 'a', ':x', 'a \\:x\n'],
    ['a=1\n', 'a', '=x:y', 'a==x:y\n'],
    ['a=1\n', 'a', ' lead', 'a=\\ lead\n'],
    ['a=1\n', 'a', 'in side ', 'a=in side \n'],
    ['a=1\n', 'a', 'C:\\dir\ttab\nnl\rcr\fff\u0001\u00e9\u20ac', 'a=C:\\\\dir\\ttab\\nnl\\rcr\\fff\\u0001\\u00E9\\u20AC\n'],
    ['a=1\na=2\n', 'a', 'x', 'a=1\na=x\n'],
    ['a=1\\\n  continued\nb=2\n', 'a', 'x', 'a=x\nb=2\n'],
    ['a\n', 'a', 'x', 'a=x\n'],
    ['a=1\r\nb=2\r\n', 'b', 'x', 'a=1\r\nb=x\r\n'],
    ['a=1', 'a', 'x', 'a=x'],
  ];
  for (const [source, key, value, expected] of cases) {
    const doc = parseProperties(source);
    doc.set(key, value);
    t.equal(doc.toString(), expected, `${JSON.stringify(source)} set ${key}`);
    t.equal(parseProperties(doc.toString()).get(key), value, 'reads back');
  }
  const untouched = parseProperties('a =  1\n');
  untouched.set('a', '1');
  t.equal(untouched.toString(), 'a =  1\n', 'setting the current value changes nothing');
});

t.test('set appends a missing key at the end', async (t) => {
  const cases: Array<[string, string, string, string]> = [
    ['', 'guid', 'g-1', 'guid=g-1\n'],
    ['# only a comment\n', 'guid', 'g-1', '# only a comment\nguid=g-1\n'],
    ['# no newline at the end', 'guid', 'g', '# no newline at the end\nguid=g\n'],
    ['a=1', 'b', '2', 'a=1\nb=2\n'],
    ['a=1\r\n', 'b', '2', 'a=1\r\nb=2\r\n'],
    ['a=1\\', 'b', '2', 'a=1\\\n\nb=2\n'],
    ['a=1\\\n', 'b', '2', 'a=1\\\n\nb=2\n'],
    ['x', 'key with space', ' v', 'x\nkey\\ with\\ space=\\ v\n'],
    ['x\n', '#k:=\t', 'v', 'x\n\\#k\\:\\=\\t=v\n'],
  ];
  for (const [source, key, value, expected] of cases) {
    const doc = parseProperties(source);
    doc.set(key, value);
    t.equal(doc.toString(), expected, `${JSON.stringify(source)} append ${key}`);
    const reread = parseProperties(doc.toString());
    t.equal(reread.get(key), value, 'reads back');
    for (const k of parseProperties(source).keys()) t.equal(reread.get(k), parseProperties(source).get(k), `${k} unchanged`);
  }
  const doc = parseProperties('a=1');
  doc.set('b', '2');
  doc.set('a', '3');
  t.equal(doc.toString(), 'a=3\nb=2\n', 'a line given a terminator by an append keeps it when re-rendered');
});

t.test('load and save go through the file, byte for byte, atomically', async (t) => {
  const dir = t.testdir();
  const file = path.join(dir, 'agent.properties');
  // ISO-8859-1 bytes (\xe9) and UTF-8 bytes (\xe2\x82\xac) in comments must both survive.
  const original = Buffer.concat([
    Buffer.from('# caf'),
    Buffer.from([0xe9]),
    Buffer.from(' \xe2\x82\xac\n', 'latin1'),
    Buffer.from('host=a@static\nport 8250\n'),
  ]);
  await writeFile(file, original, { mode: 0o640 });
  const doc = await loadPropertiesFile(file);
  t.equal(doc.get('port'), '8250');
  await savePropertiesFile(file, doc);
  t.same(await readFile(file), original, 'unchanged document saved byte for byte');
  doc.set('host', 'b,a@roundrobin');
  await savePropertiesFile(file, doc);
  t.same(await readFile(file), Buffer.from(original.toString('latin1').replace('a@static', 'b,a@roundrobin'), 'latin1'));
  t.equal((await stat(file)).mode & 0o777, 0o640, 'file mode kept');
  t.equal((await loadPropertiesFile(file)).get('host'), 'b,a@roundrobin');
});

t.test('saving text ISO-8859-1 cannot hold is refused', async (t) => {
  const file = path.join(t.testdir({ 'agent.properties': 'keep=me\n' }), 'agent.properties');
  await t.rejects(savePropertiesFile(file, parseProperties('# \u20ac\n')), {
    name: 'PropertiesError',
    code: 'not_latin1',
    message: `${file}: character U+20AC cannot be written in ISO-8859-1`,
  });
  t.equal(await readFile(file, 'utf8'), 'keep=me\n', 'the file is left as it was');
  t.ok(new PropertiesError('bad_escape', 'x') instanceof Error);
});

t.test('loading a missing file rejects with ENOENT', async (t) => {
  await t.rejects(loadPropertiesFile(path.join(t.testdir(), 'absent.properties')), { code: 'ENOENT' });
});
