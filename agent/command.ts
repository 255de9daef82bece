/**
 * `agentlb agent ...`: the agent as a command of the `agentlb` CLI (src/cli/main.ts lists it
 * in COMMANDS). Same flags, help and exit codes as the `agentlb-agent` binary.
 */
import type { Command } from '../src/cli/args';
import { runAgentCli } from './main';

export const agentCommand: Command = {
  name: 'agent',
  summary: 'run the agent on this host (agentlb agent --properties PATH)',
  run: (argv, io) => runAgentCli(argv, { out: io.out, err: io.err, env: io.env, signals: process }),
};
