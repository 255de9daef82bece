/** Turns an admin client failure into one line on stderr and exit status 1. */
import { AdminClientError } from './admin-client';
import { EXIT_FAILURE, type CliIo } from './args';

export async function reportClientError(io: CliIo, prefix: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (error) {
    if (!(error instanceof AdminClientError)) throw error;
    io.err(`${prefix}: ${error.message}\n`);
    return EXIT_FAILURE;
  }
}
