/**
 * The tests' TypeScript loader (package.json "tap": node-arg --require): each .ts file is
 * compiled alone by esbuild (already a dev dependency: the agent binary's bundler) into
 * CommonJS with an inline source map, so coverage and stack traces name the .ts lines.
 * Types are not checked here: `npm run typecheck` does that once, before the tests.
 *
 * Why not tap's default (@tapjs/typescript, ts-node): it compiled every file again in every
 * test process, about 4 s of CPU for a test that loads the whole server, against 0.5 s here;
 * over 150 test files on 2 cores that was most of the suite's time.
 */
'use strict';
const fs = require('node:fs');
const { fileURLToPath } = require('node:url');
const { transformSync } = require('esbuild');

/** What the compiler options of tsconfig.json mean for one file's output. */
const tsconfigRaw = { compilerOptions: { target: 'ES2022', useDefineForClassFields: true, esModuleInterop: true } };

function compiled(filename) {
  const { code } = transformSync(fs.readFileSync(filename, 'utf8'), {
    loader: 'ts',
    format: 'cjs',
    target: 'node20',
    sourcemap: 'inline',
    sourcefile: filename,
    tsconfigRaw,
  });
  return code;
}

const Module = require('node:module');
// require('./x') finds x.ts (and a .ts file loads through here on Node 20).
require.extensions['.ts'] = (module, filename) => module._compile(compiled(filename), filename);

if (typeof Module.registerHooks === 'function') {
  // Node 22.15 and later: one synchronous hook for require() and import alike, ahead of the
  // runtime's own type stripping (which cannot compile parameter properties).
  Module.registerHooks({
    load(url, context, nextLoad) {
      if (!url.startsWith('file:') || !url.endsWith('.ts')) return nextLoad(url, context);
      return { format: 'commonjs', source: compiled(fileURLToPath(url)), shortCircuit: true };
    },
  });
} else {
  /**
   * Node 20: with tap's ESM hooks in place (mock, processinfo) the test file itself is loaded
   * as an ES module entry, and Node refuses a .ts one: this hook says it is CommonJS, and with
   * no source given Node hands it to require(), which compiles it above.
   */
  const TS_AS_COMMONJS = `export async function load(url, context, next) {
    if (url.startsWith('file:') && url.endsWith('.ts')) return { format: 'commonjs', shortCircuit: true };
    return next(url, context);
  }`;
  Module.register(`data:text/javascript,${encodeURIComponent(TS_AS_COMMONJS)}`);
}
