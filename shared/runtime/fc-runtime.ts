import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Credentials } from '../adapters/ens';
import { DEFAULTS } from './config';
import { createLogger, type Logger, type LogSink } from './logger';

/** What every function needs from FC's invocation: keys, a logger that hides them, a deadline. */

/** The subset of FC's context the importer reads. */
export interface InvocationContext {
  requestId?: string;
  credentials?: Partial<Credentials>;
  function?: { name?: string; timeout?: number };
  region?: string;
  accountId?: string;
  logger?: { info(...a: unknown[]): void };
}

export interface InvocationScope {
  requestId: string;
  credentials: Credentials;
  log: Logger;
  started: number;
  timeoutMs: number;
  /** start work no later than this */
  deadline: number;
}

/** The function role's STS keys from the context, read per invocation; else the environment's. */
export function credentialsFrom(context: InvocationContext, env: NodeJS.ProcessEnv): Credentials {
  const c = context.credentials;
  if (c?.accessKeyId && c.accessKeySecret)
    return { accessKeyId: c.accessKeyId, accessKeySecret: c.accessKeySecret, securityToken: c.securityToken };
  const accessKeyId = env.ALIBABA_CLOUD_ACCESS_KEY_ID;
  const accessKeySecret = env.ALIBABA_CLOUD_ACCESS_KEY_SECRET;
  if (!accessKeyId || !accessKeySecret) {
    throw new Error('no credentials: the function needs a role (context.credentials) or ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET');
  }
  return { accessKeyId, accessKeySecret, securityToken: env.ALIBABA_CLOUD_SECURITY_TOKEN || undefined };
}

export const handlerDirOf = (moduleUrl: string): string => dirname(fileURLToPath(moduleUrl));

/**
 * This FC instance's configuration: read from its environment at the first invocation, then
 * kept. An instance's environment never changes (FC starts new instances after a change), so
 * nothing needs to notice one. A bad setting fails that first invocation, with its reason.
 */
export function instanceConfig<T>(read: (env: NodeJS.ProcessEnv, handlerDir: string) => T, handlerDir: string): () => T {
  let config: T | undefined;
  return () => {
    config ??= read(process.env, handlerDir);
    return config;
  };
}

export function invocationScope(context: InvocationContext, fallbackName: string, marginMs: number, env = process.env): InvocationScope {
  const started = Date.now();
  const requestId = context.requestId ?? 'local';
  const credentials = credentialsFrom(context, env);
  const timeoutMs = (context.function?.timeout ?? DEFAULTS.functionTimeoutSeconds) * 1000;
  // FC prefixes console.* and context.logger lines with `<time> <requestId> [level]`, which
  // breaks json_extract_scalar(message, ...) in SLS; bytes written to stdout arrive as they are
  const sink: LogSink = (line) => void process.stdout.write(`${line}\n`);
  const log = createLogger(sink, { function: context.function?.name ?? fallbackName, requestId }, [
    credentials.accessKeySecret,
    credentials.securityToken,
    credentials.accessKeyId,
  ]);
  return { requestId, credentials, log, started, timeoutMs, deadline: started + timeoutMs - Math.min(marginMs, timeoutMs / 4) };
}
