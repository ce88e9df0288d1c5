import { pino, type Logger } from 'pino';

/** The server's logger: JSON lines on stdout, webhook signatures and bearer tokens redacted. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { app: 'gitops-deploy-server' },
    redact: { paths: ['req.headers["x-hub-signature-256"]', 'req.headers.authorization'], censor: '[redacted]' },
  });
}
