// pino, configured once: JSON lines, level from options, `authorization` and API keys redacted.
import pino, { type Logger } from 'pino';

export function createLogger(name: string, level: string): Logger {
  return pino({
    name,
    level,
    redact: { paths: ['authorization', 'headers.authorization', 'req.headers.authorization', '*.password', 'password', 'adminToken'], censor: '[redacted]' },
    base: { pid: process.pid },
  });
}
