#!/usr/bin/env node
// tap's own thresholds count every file the tests load (native-bench/ too), so they are 0 in
// package.json and this is the check: it enforces the threshold we can keep
// honestly (see README "Tests"), over the shipped code only (src/ and agent/), from the
// json-summary report that `tap` writes on every run.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const THRESHOLD = Number(process.env.AGENTLB_COVERAGE_LINES ?? 90);
const summaryPath = path.join(__dirname, '..', '.tap', 'report', 'coverage-summary.json');

let summary;
try {
  summary = JSON.parse(fs.readFileSync(summaryPath, 'utf8'));
} catch (err) {
  console.error(`check-coverage: cannot read ${summaryPath}: ${err.message}`);
  process.exit(1);
}

let covered = 0;
let total = 0;
const weak = [];
for (const [file, entry] of Object.entries(summary)) {
  if (file === 'total') continue;
  const rel = path.relative(path.join(__dirname, '..'), file);
  if (!/^(src|agent)\//.test(rel)) continue;
  covered += entry.lines.covered;
  total += entry.lines.total;
  if (entry.lines.pct < THRESHOLD) weak.push(`${rel} ${entry.lines.pct}%`);
}
const pct = total === 0 ? 0 : (100 * covered) / total;
console.log(`coverage: ${pct.toFixed(2)}% of ${total} lines in src/ and agent/ (threshold ${THRESHOLD}%)`);
if (weak.length) console.log(`below threshold: ${weak.join(', ')}`);
if (total === 0 || pct < THRESHOLD) {
  console.error('check-coverage: line coverage is below the threshold');
  process.exit(1);
}
