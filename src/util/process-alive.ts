/**
 * Whether a pid on this machine may still be running: what decides that a lock file or a temp
 * file left behind belongs to a process that is gone (killed with -9, machine crashed).
 */
export function isProcessRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it runs under another user. Only ESRCH proves it is gone; when in doubt, it runs,
    // since the callers' mistake in that direction is to leave a file, not to take a live one.
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}
