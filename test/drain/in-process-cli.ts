/** `agentlb ARGS` run in this process, with the test server's admin token in its environment. */
import { runCli } from '../../src/cli/main';
import { TEST_TOKEN } from '../helpers/server';

export async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(args, { out: (text) => (out += text), err: (text) => (err += text), env: { AGENTLB_ADMIN_TOKEN: TEST_TOKEN } });
  return { code, out, err };
}
