/**
 * The dependency rule: which folder may import which (README, "Code layout and data flow").
 * Layers point down: app and cli at the top; admin, server, planner, store and security below
 * them; settings, api, lb and protocol under those; util (and src/log*.ts) at the bottom. The agent
 * shares the codec and the utilities only. No cycles anywhere. Type-only imports count: a type
 * pulled upward is a dependency all the same.
 *
 * `npm test` runs it (scripts "depcruise"); test/layout/dependency-rule.test.ts proves that it
 * fails on the imports it forbids. There are no known exceptions: every import of src/ and
 * agent/ follows it.
 */
const UTIL = '^src/util/|^src/log[a-z-]*\\.ts$';

/** For each folder, every internal folder it may import (itself always). */
const ALLOWED = {
  util: [],
  protocol: ['util'],
  lb: ['protocol', 'util'],
  settings: ['lb', 'protocol', 'util'],
  api: ['settings', 'lb', 'protocol', 'util'],
  store: ['settings', 'lb', 'protocol', 'util'],
  security: ['store', 'settings', 'api', 'lb', 'protocol', 'util'],
  planner: ['store', 'settings', 'api', 'lb', 'protocol', 'util'],
  server: ['security', 'store', 'planner', 'settings', 'api', 'lb', 'protocol', 'util'],
  // admin adapts the server to HTTP and metrics (it observes ServerEvents); never the reverse.
  admin: ['server', 'security', 'store', 'planner', 'settings', 'api', 'lb', 'protocol', 'util'],
  app: ['admin', 'server', 'security', 'store', 'planner', 'settings', 'api', 'lb', 'protocol', 'util'],
  cli: ['app', 'security', 'store', 'settings', 'api', 'lb', 'protocol', 'util'],
};

const folderPath = (name) => (name === 'util' ? UTIL : `^src/${name}/`);
/**
 * Beyond the folders: the CLI offers the agent's own command (agent/command.ts) and reads the
 * server's config file with the agent's .properties codec (agent/properties.ts).
 */
const EXTRA = { cli: ['^agent/command\\.ts$', '^agent/properties\\.ts$'] };
const allowedPaths = (name) => [name, ...ALLOWED[name]].map(folderPath).concat(EXTRA[name] ?? []).join('|');

const layerRules = Object.keys(ALLOWED).map((name) => ({
  name: `layer-${name}`,
  comment: `src/${name === 'util' ? 'util (and log*.ts)' : name} may import only: ${ALLOWED[name].join(', ') || 'nothing of ours'}.`,
  severity: 'error',
  from: { path: folderPath(name) },
  to: { path: '^(src|agent)/', pathNot: allowedPaths(name) },
}));

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'Modules that import each other, directly or through others: cut the cycle.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    ...layerRules,
    {
      name: 'admin-sees-server-through-types',
      comment: 'Admin routes and metrics work on interfaces and src/api/ values; the composition root (src/app/) hands them the server objects.',
      severity: 'error',
      from: { path: '^src/admin/' },
      to: { path: '^src/server/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'agent-imports-only-shared-code',
      comment: 'The agent reuses the codec, the utilities, list comparison, TLS file loading, the X.509 requests (x509-async) and the argument parser; nothing of the server.',
      severity: 'error',
      from: { path: '^agent/' },
      to: {
        path: '^src/',
        pathNot: `^src/(protocol|util)/|^src/log[a-z-]*\\.ts$|^src/lb/(compare|types)\\.ts$|^src/security/(tls-files|tls-mismatch|x509-async)\\.ts$|^src/cli/args\\.ts$`,
      },
    },
    {
      name: 'src-never-imports-tests-or-bench',
      severity: 'error',
      from: { path: '^(src|agent)/' },
      to: { path: '^(test|native-bench|scripts)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.json'] },
  },
};
