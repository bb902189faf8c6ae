const exitCodes = { SIGINT: 130, SIGTERM: 143 } as const;

/**
 * Runs `cleanup` when the command is interrupted (Ctrl-C, SIGTERM) instead of dying at once, then
 * exits with the shell's code for the signal (128 + its number). Node's default would end the
 * process without running any `finally`, leaving temporary files behind. Returns the remover of
 * the handlers, for when the work ended by itself.
 */
export function onInterrupt(what: string, cleanup: () => Promise<void>): () => void {
  let interrupted = false;
  const handler = (signal: keyof typeof exitCodes) => {
    // A second Ctrl-C while cleaning up: stop waiting.
    if (interrupted) process.exit(exitCodes[signal]);
    interrupted = true;
    process.stderr.write(`wharf: ${what} interrupted by ${signal}; removing what it had written\n`);
    cleanup()
      .catch((error: unknown) => {
        process.stderr.write(`wharf: could not clean up: ${error instanceof Error ? error.message : String(error)}\n`);
      })
      .finally(() => process.exit(exitCodes[signal]));
  };
  const signals = Object.keys(exitCodes) as (keyof typeof exitCodes)[];
  for (const signal of signals) process.on(signal, handler);
  return () => {
    for (const signal of signals) process.off(signal, handler);
  };
}
