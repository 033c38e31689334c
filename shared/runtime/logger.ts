import { redact } from '../core/redact';

/** Where log lines go: FC's context.logger in the cloud, stdout elsewhere. */
export type LogSink = (line: string) => void;

export interface Logger {
  info(fields: Record<string, unknown>): void;
  warn(fields: Record<string, unknown>): void;
  error(fields: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

/**
 * Structured JSON logs with a fixed context; every line passes through redaction with
 * the invocation's own secrets, so a secret cannot reach the log even inside an error.
 */
export function createLogger(sink: LogSink, context: Record<string, unknown>, secrets: readonly (string | undefined)[]): Logger {
  const write = (level: string, fields: Record<string, unknown>): void => {
    const line = JSON.stringify({ time: new Date().toISOString(), level, ...context, ...fields }, (_k, v) =>
      typeof v === 'bigint' ? Number(v) : v,
    );
    sink(redact(line, secrets));
  };
  return {
    info: (f) => write('info', f),
    warn: (f) => write('warn', f),
    error: (f) => write('error', f),
    child: (f) => createLogger(sink, { ...context, ...f }, secrets),
  };
}
