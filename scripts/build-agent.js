#!/usr/bin/env node
/**
 * `npm run build:agent`: the agent as ONE executable file, dist/agentlb-agent, that runs on a
 * machine with no Node.js and no node_modules. Fully offline, using Node's single executable
 * application (SEA) support — what pkg's own SEA mode wraps; classic pkg downloads Node
 * binaries and so cannot build here:
 *   1. esbuild bundles agent/main.ts and every dependency into one CommonJS file;
 *   2. `node --experimental-sea-config` turns it into a preparation blob;
 *   3. a copy of this very node binary gets the blob injected with postject.
 * The binary is specific to this OS and CPU (it is this node, plus our code).
 *
 * Usage: node scripts/build-agent.js [--out PATH]
 */
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
/** The fuse Node's SEA loader looks for; fixed by Node, see its single-executable docs. */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

function fail(message) {
  process.stderr.write(`build-agent: ${message}\n`);
  process.exit(1);
}

/**
 * msgpackr optionally loads the native addon msgpackr-extract (a string-decoding speed-up) from
 * node_modules at run time. A single executable has no node_modules and its require() loads
 * built-ins only, so the bundle gets an empty stand-in and msgpackr uses its pure-JS decoder.
 */
const noNativeAddons = {
  name: 'no-native-addons',
  setup(build) {
    build.onResolve({ filter: /^msgpackr-extract$/ }, () => ({ path: 'msgpackr-extract', namespace: 'stub' }));
    build.onLoad({ filter: /.*/, namespace: 'stub' }, () => ({ contents: 'module.exports = undefined;', loader: 'js' }));
  },
};

/**
 * postject's LIEF (compiled to wasm) warns once per ELF note section it cannot name — nine
 * lines on every build of Node's binary, about sections it leaves untouched. Known noise; any
 * other warning is still printed, and all of them when the injection fails.
 */
const HARMLESS_POSTJECT_WARNING = /^warning: Can't find string offset for section name '\.note[^']*'$/;

/**
 * Runs `work` with console.warn collected into `lines`. postject's wasm module binds
 * console.warn when it is loaded, which happens inside inject(): replacing it around the
 * call is enough.
 */
async function quietly(lines, work) {
  const warn = console.warn;
  console.warn = (...args) => lines.push(args.join(' '));
  try {
    return await work();
  } finally {
    console.warn = warn;
  }
}

async function bundle(outfile) {
  const esbuild = require('esbuild');
  await esbuild.build({
    // agent/main.ts runs itself when it is the main module, which the bundle is.
    entryPoints: [path.join(ROOT, 'agent', 'main.ts')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: `node${process.versions.node.split('.')[0]}`,
    outfile,
    logLevel: 'warning',
    legalComments: 'none',
    plugins: [noNativeAddons],
  });
}

async function build(outPath) {
  const workDir = path.join(ROOT, 'dist', 'agent-sea');
  fs.mkdirSync(workDir, { recursive: true });
  const bundlePath = path.join(workDir, 'agentlb-agent.js');
  const blobPath = path.join(workDir, 'agentlb-agent.blob');
  const configPath = path.join(workDir, 'sea-config.json');

  await bundle(bundlePath);
  fs.writeFileSync(
    configPath,
    JSON.stringify({ main: bundlePath, output: blobPath, disableExperimentalSEAWarning: true, useCodeCache: true }, null, 2),
  );
  const sea = spawnSync(process.execPath, ['--experimental-sea-config', configPath], { encoding: 'utf8' });
  if (sea.status !== 0) fail(`node --experimental-sea-config failed:\n${sea.stderr}${sea.stdout}`);

  // Build beside the target and rename over it: a running agent keeps its old inode.
  const tempPath = `${outPath}.tmp-${process.pid}`;
  fs.mkdirSync(path.dirname(outPath), { recursive: true });
  fs.copyFileSync(process.execPath, tempPath);
  fs.chmodSync(tempPath, 0o755);
  const { inject } = require('postject');
  const postjectWarnings = [];
  try {
    await quietly(postjectWarnings, () => inject(tempPath, 'NODE_SEA_BLOB', fs.readFileSync(blobPath), { sentinelFuse: SEA_FUSE }));
  } catch (err) {
    fs.rmSync(tempPath, { force: true });
    fail(`postject failed: ${err.message}${postjectWarnings.length > 0 ? `\n${postjectWarnings.join('\n')}` : ''}`);
  }
  for (const warning of postjectWarnings) if (!HARMLESS_POSTJECT_WARNING.test(warning)) process.stderr.write(`${warning}\n`);
  fs.renameSync(tempPath, outPath);
  const sizeMb = (fs.statSync(outPath).size / 1e6).toFixed(1);
  process.stdout.write(`build-agent: wrote ${path.relative(process.cwd(), outPath) || outPath} (${sizeMb} MB, node ${process.version}, ${process.platform}-${process.arch})\n`);
}

const outIndex = process.argv.indexOf('--out');
const outPath = outIndex > 0 ? path.resolve(process.argv[outIndex + 1] ?? fail('--out needs a path')) : path.join(ROOT, 'dist', 'agentlb-agent');
build(outPath).catch((err) => fail(err.stack ?? String(err)));
