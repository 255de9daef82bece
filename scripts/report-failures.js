#!/usr/bin/env node
// Run after a failed `tap`: prints, at the end of the output, every failed assertion of the run
// with its subtest path and diagnostics, read from the per-file TAP that tap keeps in
// .tap/test-results. A CI log is often seen only by its tail; without this, the one failure in
// 6 000 assertions is somewhere in the middle of it. Exits 1, so `tap || report-failures` still
// fails the run.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const resultsDir = path.join(root, '.tap', 'test-results');
const DIAG_LINES = 40;

function tapFiles(dir) {
  let entries;
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return tapFiles(full);
    return entry.name.endsWith('.tap') ? [full] : [];
  });
}

const indentOf = (line) => line.length - line.trimStart().length;
const NOT_OK = /^\s*not ok \d+/;
const PLAN = /^\s*1\.\.\d+/;

// A subtest's own "not ok" follows its plan line, indented one level (4 spaces) deeper; an
// assertion's does not. Only assertions are printed: their parents failed because of them.
function failures(lines) {
  const found = [];
  const subtests = []; // names by depth
  let previous = '';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const depth = indentOf(line) / 4;
    const subtest = /^\s*# Subtest: (.*)$/.exec(line);
    if (subtest) subtests.splice(depth, Infinity, subtest[1]);
    if (NOT_OK.test(line)) {
      const closesSubtest = PLAN.test(previous) && indentOf(previous) === indentOf(line) + 4;
      if (!closesSubtest) found.push({ at: i, path: subtests.slice(0, depth), diag: diagnostics(lines, i) });
    }
    if (line.trim() !== '') previous = line;
  }
  return found;
}

function diagnostics(lines, notOkAt) {
  const open = lines[notOkAt + 1];
  if (open === undefined || open.trim() !== '---') return [];
  const out = [];
  for (let i = notOkAt + 2; i < lines.length && lines[i].trim() !== '...'; i++) out.push(lines[i]);
  return out;
}

let failedFiles = 0;
console.log('\n# failures of this run (from .tap/test-results):');
for (const file of tapFiles(resultsDir).sort()) {
  const testFile = path.relative(resultsDir, file).replace(/\.tap$/, '');
  // tap keeps the results of test files since deleted or renamed: not this run's.
  if (!fs.existsSync(path.join(root, testFile))) continue;
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  if (!lines.some((line) => NOT_OK.test(line))) continue;
  failedFiles++;
  console.log(`\n## ${testFile}`);
  const found = failures(lines);
  if (found.length === 0) {
    // No assertion failed, yet the file did (a crash, a timeout of the whole file): its tail says how.
    console.log(lines.slice(-DIAG_LINES).join('\n'));
    continue;
  }
  for (const failure of found) {
    console.log(`${[...failure.path, lines[failure.at].trim()].join(' > ')}`);
    const diag = failure.diag.slice(0, DIAG_LINES);
    if (diag.length) console.log(diag.join('\n'));
    if (failure.diag.length > DIAG_LINES) console.log(`  ... ${failure.diag.length - DIAG_LINES} more lines`);
  }
}
if (failedFiles === 0) console.log('no failed assertion recorded: see tap\'s own output above');
console.log(`\n# ${failedFiles} test file(s) failed`);
process.exit(1);
