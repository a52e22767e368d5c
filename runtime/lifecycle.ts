// Process lifecycle for every long-running command: the first SIGINT/SIGTERM runs the orderly
// stop (drain, then close), a second one exits at once.
import type { Logger } from 'pino';

export function onShutdown(log: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutting down');
    stop().then(
      () => process.exit(0),
      (e: unknown) => {
        log.error({ err: e }, 'error while shutting down');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}
