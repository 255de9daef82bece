#!/usr/bin/env node
/**
 * `agentlb <command> ...`: dispatches to one module per command. More commands (servers,
 * plan, ca) are added by appending to COMMANDS.
 */
import { agentCommand } from '../../agent/command';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, processIo, type CliIo, type Command } from './args';
import { caCommand } from './ca-command';
import { hostsCommand } from './hosts-command';
import { planCommand } from './plan-command';
import { serverCommand } from './server-command';
import { serversCommand } from './servers-command';
import { settingsCommand } from './settings-command';

export const COMMANDS: Command[] = [serverCommand, settingsCommand, hostsCommand, serversCommand, planCommand, caCommand, agentCommand];

export function mainUsage(commands: readonly Command[] = COMMANDS): string {
  const width = Math.max(...commands.map((command) => command.name.length));
  const lines = commands.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`);
  return `Usage: agentlb <command> [options]

Indirect agent load balancing for a fleet of management servers.

Commands:
${lines.join('\n')}

Run \`agentlb <command> --help\` for a command's options.
`;
}

export async function runCli(argv: string[], io: CliIo, commands: readonly Command[] = COMMANDS): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    (name === undefined ? io.err : io.out)(mainUsage(commands));
    return name === undefined ? EXIT_USAGE : EXIT_OK;
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
