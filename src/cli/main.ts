#!/usr/bin/env node
/**
 * `agentlb <command> ...`: dispatches to one module per command. The table names each
 * command with its one-line summary and a loader, and a command's module is loaded only when
 * that command runs: the client commands and every `--help` would otherwise load the whole
 * server (pg, piscina, prom-client, pino, the listener) just to print text or make one request.
 * Each summary is also in its module's Command; test/cli/lazy-commands.test.ts pins them equal.
 */
import { versionLine } from '../util/version';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, processIo, type CliIo, type Command } from './args';

/** A Command whose module is loaded (once, by `require`'s cache) the first time it runs. */
export function lazyCommand(name: string, summary: string, load: () => Command): Command {
  return { name, summary, run: (argv, io) => load().run(argv, io) };
}

/**
 * Each command's module, as its loader: for the lazy table and for tests comparing the two.
 * `require`, not `import()`: under node16 resolution a dynamic import stays an ES import,
 * which needs file extensions and would not share the CommonJS module cache.
 */
export const COMMAND_LOADERS: Readonly<Record<string, () => Command>> = {
  server: () => (require('./server-command') as typeof import('./server-command')).serverCommand,
  settings: () => (require('./settings-command') as typeof import('./settings-command')).settingsCommand,
  hosts: () => (require('./hosts-command') as typeof import('./hosts-command')).hostsCommand,
  servers: () => (require('./servers-command') as typeof import('./servers-command')).serversCommand,
  plan: () => (require('./plan-command') as typeof import('./plan-command')).planCommand,
  ca: () => (require('./ca-command') as typeof import('./ca-command')).caCommand,
  call: () => (require('./call-command') as typeof import('./call-command')).callCommand,
  agent: () => (require('../../agent/command') as typeof import('../../agent/command')).agentCommand,
};

const SUMMARIES: ReadonlyArray<readonly [name: string, summary: string]> = [
  ['server', 'run the management server daemon'],
  ['settings', 'show or change the global settings (get, set KEY=VALUE ...)'],
  ['hosts', 'list the registered hosts, or remove one (remove ID)'],
  ['servers', 'list the management servers of the fleet, up, down or stopped (forget ADDRESS)'],
  ['plan', 'what-if: loads per server and agents moved, for a proposed setting or failure'],
  ['ca', 'create a CA, issue server and agent certificates, revoke them (init DIR, issue DIR --name NAME, revoke DIR --name NAME)'],
  ['call', 'run a method on one agent or on many (call ID METHOD [JSON], call --all METHOD)'],
  ['agent', 'run the agent on this host (agentlb agent --properties PATH)'],
];

export const COMMANDS: Command[] = SUMMARIES.map(([name, summary]) => lazyCommand(name, summary, COMMAND_LOADERS[name]!));

export function mainUsage(commands: readonly Command[] = COMMANDS): string {
  const width = Math.max(...commands.map((command) => command.name.length));
  const lines = commands.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`);
  return `Usage: agentlb <command> [options]

Indirect agent load balancing for a fleet of management servers.

Commands:
${lines.join('\n')}

Run \`agentlb <command> --help\` for a command's options; \`agentlb --version\` prints the version.
`;
}

export async function runCli(argv: string[], io: CliIo, commands: readonly Command[] = COMMANDS): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    (name === undefined ? io.err : io.out)(mainUsage(commands));
    return name === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (name === '--version' || name === '-V') {
    io.out(versionLine('agentlb'));
    return EXIT_OK;
  }
  const command = commands.find((candidate) => candidate.name === name);
  if (command === undefined) {
    io.err(`agentlb: unknown command ${JSON.stringify(name)}\nRun \`agentlb --help\` for the commands.\n`);
    return EXIT_USAGE;
  }
  return command.run(rest, io);
}

if (require.main === module) {
  runCli(process.argv.slice(2), processIo()).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`agentlb: internal error: ${(error as Error).stack ?? String(error)}\n`);
      process.exit(EXIT_FAILURE);
    },
  );
}
