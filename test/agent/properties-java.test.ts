// Differential test: our reader against java.util.Properties itself, over generated documents
// dense in separators, escapes, continuations, comments and line terminators. Skipped where
// no `java` is installed.
import t from 'tap';
import { execFile, spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { parseProperties } from '../../agent/properties';

const javaAvailable = spawnSync('java', ['-version']).status === 0;
const JAVA_READER = path.join(__dirname, '..', 'fixtures', 'JavaProperties.java');

function hex(s: string): string {
  return [...s].map((c) => c.charCodeAt(0).toString(16).padStart(4, '0')).join('');
}

function ourReading(text: string): string {
  let doc;
  try {
    doc = parseProperties(text);
  } catch {
    return 'ERR';
  }
  // Java's TreeMap orders by UTF-16 code units, as JS's default sort does.
  return doc
    .keys()
    .sort()
    .map((key) => `${hex(key)}=${hex(doc.get(key)!)};`)
    .join('');
}

t.test('reads what java.util.Properties reads', { skip: javaAvailable ? false : 'no java' }, async (t) => {
  const unit = fc.constantFrom(
    'a', 'b', 'k', '=', ':', ' ', '\t', '\f', '\\', '\\', '\n', '\r', '\r\n', '#', '!', 'u', '0', '4', '1', 'f', 'n', 't', 'é',
  );
  const docs = fc.sample(fc.string({ unit, maxLength: 40 }), { numRuns: 600, seed: 20240917 });
  docs.push('a=b\\\n   c', 'key', 'key   ', 'k \\\n', 'k=v\\', '\\u0041=\\u00e9', 'k=\\u00', 'k=\\uzzzz');
  // Writing: set generated keys to generated values in generated documents; Java must then
  // read every value we set, and everything else as we do.
  const text = fc.string({ unit: fc.constantFrom('a', '=', ':', ' ', '\t', '\\', '\n', '#', '!', '\u0001', 'é', '€'), maxLength: 6 });
  const edits = fc.sample(fc.tuple(fc.constantFrom(...docs.slice(0, 100)), fc.array(fc.tuple(text, text), { maxLength: 3 })), {
    numRuns: 300,
    seed: 7,
  });
  const edited: string[] = [];
  let lostValues = 0;
  for (const [source, sets] of edits) {
    let doc;
    try {
      doc = parseProperties(source);
    } catch {
      continue;
    }
    for (const [key, value] of sets) doc.set(key, value);
    const reread = parseProperties(doc.toString());
    for (const [key, value] of new Map(sets)) if (reread.get(key) !== value) lostValues++;
    edited.push(doc.toString());
  }
  t.equal(lostValues, 0, 'every value set reads back');
  docs.unshift(...edited);
  const dir = t.testdir();
  const files = docs.map((_, i) => path.join(dir, `${i}.properties`));
  await Promise.all(docs.map((doc, i) => writeFile(files[i]!, doc, 'latin1')));
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile('java', [JAVA_READER, ...files], { maxBuffer: 1 << 24 }, (err, out) => (err ? reject(err) : resolve(out))),
  );
  const javaLines = stdout.split('\n');
  let mismatches = 0;
  docs.forEach((doc, i) => {
    if (ourReading(doc) !== javaLines[i]) {
      mismatches++;
      if (mismatches <= 5) t.fail(`differs from Java on ${JSON.stringify(doc)}`, { ours: ourReading(doc), java: javaLines[i] });
    }
  });
  t.equal(mismatches, 0, `all ${docs.length} documents read as Java reads them`);
  // An error on a malformed \u escape is part of the compared behaviour: make sure both happened.
  t.equal(javaLines[docs.length - 1], 'ERR');
});
