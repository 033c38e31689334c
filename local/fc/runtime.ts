import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AccessKey, CredentialStore } from '../credentials';
import type { DeployedTrigger } from './s-yaml';
import { captureOutput, prefixed, writeOutside, type CapturedLine } from './log-capture';
import { withInvocationEnv } from './invocation-env';
import { startProcessInstance } from './process-instance';

export type Handler = (event: Buffer, context: FcContext) => Promise<unknown>;

export interface FcLogger {
  debug(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

/** The context FC's Node.js runtime passes a handler. */
export interface FcContext {
  requestId: string;
  credentials: Required<AccessKey>;
  function: { name: string; handler: string; memory: number; timeout: number };
  service: { name: string };
  region: string;
  accountId: string;
  logger: FcLogger;
}

export interface LocalFunction {
  name: string;
  /** a .ts/.js module exporting the handler, or a bundle folder/file (CommonJS) */
  entry: string;
  handler?: string;
  region?: string;
  memorySize?: number;
  timeoutSeconds?: number;
  env?: Record<string, string>;
  maxAsyncRetryAttempts?: number;
  /** FC 3.0's concurrencyConfig.reservedConcurrency: async invocations of it in flight at most */
  reservedConcurrency?: number;
  /** what FC 3.0's GetFunction and ListTriggers answer about it */
  role?: string;
  triggers?: DeployedTrigger[];
  /** on-failure destination: the function that gets the invocation record when retries are spent */
  onFailure?: string;
  /** timer triggers: the payload each fire delivers */
  timers?: { name: string; payload?: string }[];
  /** how FC cuts output into SLS entries: DefaultRegex starts one only at a line beginning with a date */
  logBeginRule?: 'DefaultRegex' | 'None';
}

export interface LogLine {
  function: string;
  requestId: string;
  level: string;
  /** the line as FC ships it to SLS: prefixed unless the function wrote to stdout itself */
  message: string;
  raw?: boolean;
}

/** Echo outside any invocation's capture (the local stack's terminal). */
const echoLine = (message: string): void => writeOutside(`${message}\n`);

/** FC's DefaultRegex log begin rule: an SLS entry starts at a line that begins with a date */
const LINE_BEGINS_WITH_DATE = /^\d{4}-\d{2}-\d{2}/;

function lastEntryOf(lines: LogLine[], fn: string, requestId: string): LogLine | undefined {
  for (let i = lines.length - 1; i >= 0; i--) if (lines[i]!.function === fn && lines[i]!.requestId === requestId) return lines[i];
  return undefined;
}

export interface Invocation {
  function: string;
  requestId: string;
  attempt: number;
  async: boolean;
  ok: boolean;
  error?: string;
  result?: unknown;
  durationMs: number;
}

export interface FcOptions {
  credentials: CredentialStore;
  /** backoff before async retry n is `retryBaseMs * 2^(n-1)` (FC waits seconds to minutes) */
  retryBaseMs?: number;
  asyncConcurrency?: number;
  echoLogs?: boolean;
  /** extra environment for every function (endpoints of the stand-ins) */
  env?: Record<string, string>;
  /**
   * Give each concurrent invocation of a bundled function its own instance (its own copy of
   * the module's state), as FC's instances are separate processes. Off: one shared copy.
   */
  isolateInstances?: boolean;
  /**
   * Run each instance of a bundled function as a process of its own (local/fc/process-instance.cjs),
   * as FC does: instances then use other cores and are measured apart (the fan-out bench). Off:
   * instances share this process.
   */
  processInstances?: boolean;
}

interface QueuedEvent {
  fn: string;
  payload: Buffer;
  attempt: number;
  notBefore: number;
  eventId: string;
}

const format = (args: unknown[]): string =>
  args.map((a) => (typeof a === 'string' ? a : a instanceof Error ? (a.stack ?? a.message) : JSON.stringify(a))).join(' ');

/**
 * Runs function code as FC's nodejs20 runtime does, synchronously or through an
 * asynchronous-invocation queue with FC's retry-on-throw semantics.
 */
export class FcStandIn {
  readonly functions = new Map<string, LocalFunction>();
  readonly logs: LogLine[] = [];
  readonly invocations: Invocation[] = [];
  readonly failedEvents: { function: string; payload: Buffer; error: string; attempts: number }[] = [];
  private readonly handlers = new Map<string, Promise<Handler>>();
  private readonly stsKeys = new Map<string, Required<AccessKey>>();
  private readonly queue: QueuedEvent[] = [];
  private inFlight = 0;
  private readonly inFlightOf = new Map<string, number>();
  /** idle instances per function (isolateInstances) */
  private readonly idle = new Map<string, Handler[]>();
  readonly instancesStarted = new Map<string, number>();
  private idleWaiters: (() => void)[] = [];
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly options: FcOptions) {}

  /** (Re)deploy a function: like FC after a configuration change, later invocations run in new instances. */
  register(fn: LocalFunction): void {
    this.functions.set(fn.name, fn);
    this.handlers.delete(fn.name);
    this.idle.delete(fn.name);
  }

  /** STS keys of the function's role; `rotate` issues new ones as FC does over time. */
  credentialsFor(name: string, rotate = false): Required<AccessKey> {
    let key = this.stsKeys.get(name);
    if (!key || rotate) {
      // FC hands each function keys of its own role (s.yaml `role`, acs:ram::<account>:role/<name>)
      const role = /:role\/(.+)$/.exec(this.functions.get(name)?.role ?? '')?.[1];
      key = this.options.credentials.issueSts(undefined, role);
      this.stsKeys.set(name, key);
    }
    return key;
  }

  private loadHandler(fn: LocalFunction): Promise<Handler> {
    let loaded = this.handlers.get(fn.name);
    if (!loaded) {
      loaded = (async () => {
        const [file, exportName] = resolveEntry(fn);
        // an instance of its own, per function and registration, as FC's instances are: its
        // module state (the configuration it read once) is never another function's
        // (a plain number: a dot in the query would hide the .ts extension from the loader)
        instancesLoaded += 1;
        const instance = instancesLoaded;
        const mod =
          /\.c?js$/.test(file) && !file.endsWith('.mjs')
            ? freshRequire(file)
            : await import(`${pathToFileURL(file).href}?fc-instance=${instance}`);
        const handler = mod[exportName] ?? mod.default?.[exportName];
        if (typeof handler !== 'function') throw new Error(`${file} does not export ${exportName}`);
        return handler as Handler;
      })();
      this.handlers.set(fn.name, loaded);
    }
    return loaded;
  }

  /** An idle instance of the function, or a new one (a fresh copy of a bundle's module state). */
  private async instanceOf(fn: LocalFunction): Promise<Handler> {
    const [file] = resolveEntry(fn);
    if (this.options.processInstances && /\.c?js$/.test(file)) return this.processInstance(fn);
    if (!this.options.isolateInstances || !/\.c?js$/.test(file)) return this.loadHandler(fn);
    const idle = this.idle.get(fn.name)?.pop();
    if (idle) return idle;
    this.instancesStarted.set(fn.name, (this.instancesStarted.get(fn.name) ?? 0) + 1);
    const load = createRequire(import.meta.url);
    delete load.cache[load.resolve(file)];
    const mod = load(file);
    return (mod[resolveEntry(fn)[1]] ?? mod.default?.handler) as Handler;
  }

  /** peak RSS of every process instance, as each last reported it */
  readonly processPeaks = new Map<number, { function: string; peakRssBytes: number }>();
  private readonly children = new Set<{ kill(): void }>();

  /** An idle process instance, or a new one started with the function's environment (NODE_OPTIONS included, as FC's node gets it). */
  private processInstance(fn: LocalFunction): Handler {
    const idle = this.idle.get(fn.name)?.pop();
    if (idle) return idle;
    this.instancesStarted.set(fn.name, (this.instancesStarted.get(fn.name) ?? 0) + 1);
    const [file, exportName] = resolveEntry(fn);
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      ...this.envOf(fn, { region: fn.region ?? 'cn-beijing', accountId: this.options.credentials.accountId }),
    };
    if (fn.env?.NODE_OPTIONS) env.NODE_OPTIONS = fn.env.NODE_OPTIONS;
    const instance = startProcessInstance(file, exportName, env, !!this.options.echoLogs, (pid, peakRssBytes) =>
      this.processPeaks.set(pid, { function: fn.name, peakRssBytes }),
    );
    this.children.add(instance);
    return instance.handler;
  }

  private release(fn: LocalFunction, handler: Handler): void {
    if (!this.options.isolateInstances && !this.options.processInstances) return;
    const list = this.idle.get(fn.name) ?? [];
    list.push(handler);
    this.idle.set(fn.name, list);
  }

  /** The environment FC gives the function's instances: the stack's, the function's own, FC's variables. */
  private envOf(fn: LocalFunction, context: { region: string; accountId: string }): Record<string, string> {
    // NODE_OPTIONS is for the node FC starts; an in-process function has no use for it, and
    // processes this one spawns must not inherit it
    const { NODE_OPTIONS: _nodeOptions, ...fnEnv } = fn.env ?? {};
    return {
      ...this.options.env,
      ...fnEnv,
      FC_FUNCTION_NAME: fn.name,
      FC_REGION: context.region,
      FC_ACCOUNT_ID: context.accountId,
    };
  }

  /** Synchronous invocation: the handler's result, or its error thrown. */
  async invoke(name: string, payload: Buffer | string, attempt = 0, async = false): Promise<unknown> {
    const fn = this.functions.get(name);
    if (!fn) throw new Error(`FC stand-in: no function ${name}`);
    const requestId = randomUUID();
    const lines = this.logs;
    const echo = this.options.echoLogs;
    const record = (line: CapturedLine) => {
      if (echo) echoLine(line.message);
      if (fn.logBeginRule === 'DefaultRegex' && !LINE_BEGINS_WITH_DATE.test(line.message)) {
        const entry = lastEntryOf(lines, name, requestId);
        if (entry) {
          entry.message += `\n${line.message}`;
          return;
        }
      }
      lines.push({ function: name, requestId, level: line.level, message: line.message, raw: line.raw });
    };
    let handler: Handler;
    try {
      // what the code prints while it loads belongs to the first invocation's log, as on FC
      // module code that runs at load sees the function's environment too
      const env = this.envOf(fn, { region: fn.region ?? 'cn-beijing', accountId: this.options.credentials.accountId });
      handler = await captureOutput(requestId, record, () => withInvocationEnv(env, () => this.instanceOf(fn)));
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.invocations.push({
        function: name,
        requestId,
        attempt,
        async,
        ok: false,
        error: `could not load the function: ${message}`,
        durationMs: 0,
      });
      throw err;
    }
    // context.logger lines carry FC's prefix, as console lines do
    const log =
      (level: string) =>
      (...args: unknown[]) =>
        record({ level, message: prefixed(requestId, level, format(args)), raw: false });
    const timeoutSeconds = fn.timeoutSeconds ?? 60;
    const context: FcContext = {
      requestId,
      credentials: this.credentialsFor(name),
      function: { name, handler: fn.handler ?? 'index.handler', memory: fn.memorySize ?? 128, timeout: timeoutSeconds },
      service: { name: 'default' },
      region: fn.region ?? 'cn-beijing',
      accountId: this.options.credentials.accountId,
      logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
    };
    const env = this.envOf(fn, context);
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      const result = await Promise.race([
        captureOutput(requestId, record, () =>
          withInvocationEnv(env, () => handler(Buffer.isBuffer(payload) ? payload : Buffer.from(payload), context)),
        ),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`Function timed out after ${timeoutSeconds} seconds`)), timeoutSeconds * 1000);
        }),
      ]);
      this.invocations.push({ function: name, requestId, attempt, async, ok: true, result, durationMs: Date.now() - started });
      this.release(fn, handler);
      return result;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.invocations.push({ function: name, requestId, attempt, async, ok: false, error: message, durationMs: Date.now() - started });
      // a failed invocation's instance is kept too (FC reuses it); a timed-out one is not
      if (!/timed out/.test(message)) this.release(fn, handler);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Asynchronous invocation, as an OSS trigger makes: queued, retried on throw. */
  invokeAsync(name: string, payload: Buffer | string): string {
    if (!this.functions.has(name)) throw new Error(`FC stand-in: no function ${name}`);
    const eventId = randomUUID();
    this.queue.push({
      fn: name,
      payload: Buffer.isBuffer(payload) ? payload : Buffer.from(payload),
      attempt: 0,
      notBefore: Date.now(),
      eventId,
    });
    this.pump();
    return eventId;
  }

  private pump(): void {
    if (this.stopped) return;
    const limit = this.options.asyncConcurrency ?? 10;
    clearTimeout(this.timer);
    this.timer = undefined;
    const room = (fn: string) => (this.inFlightOf.get(fn) ?? 0) < (this.functions.get(fn)?.reservedConcurrency ?? Number.POSITIVE_INFINITY);
    while (this.inFlight < limit) {
      const now = Date.now();
      const i = this.queue.findIndex((e) => e.notBefore <= now && room(e.fn));
      if (i < 0) break;
      const [event] = this.queue.splice(i, 1);
      this.inFlight += 1;
      this.inFlightOf.set(event!.fn, (this.inFlightOf.get(event!.fn) ?? 0) + 1);
      void this.run(event!).finally(() => {
        this.inFlight -= 1;
        this.inFlightOf.set(event!.fn, (this.inFlightOf.get(event!.fn) ?? 1) - 1);
        this.pump();
      });
    }
    if (this.queue.length && this.inFlight < limit && this.queue.some((e) => room(e.fn))) {
      const next = Math.min(...this.queue.filter((e) => room(e.fn)).map((e) => e.notBefore));
      this.timer = setTimeout(() => this.pump(), Math.max(1, next - Date.now()));
    }
    if (!this.queue.length && this.inFlight === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private async run(event: QueuedEvent): Promise<void> {
    try {
      await this.invoke(event.fn, event.payload, event.attempt, true);
    } catch (err) {
      const fn = this.functions.get(event.fn)!;
      const max = fn.maxAsyncRetryAttempts ?? 3;
      if (event.attempt < max) {
        const base = this.options.retryBaseMs ?? 50;
        this.queue.push({ ...event, attempt: event.attempt + 1, notBefore: Date.now() + base * 2 ** event.attempt });
      } else {
        const error = err instanceof Error ? err.message : String(err);
        this.failedEvents.push({ function: event.fn, payload: event.payload, error, attempts: event.attempt + 1 });
        if (fn.onFailure && this.functions.has(fn.onFailure)) this.invokeAsync(fn.onFailure, this.failureRecord(event, error));
      }
    }
  }

  /** The invocation record FC sends an on-failure destination (its result-callback shape). */
  private failureRecord(event: QueuedEvent, error: string): string {
    return JSON.stringify({
      timestamp: Date.now(),
      requestContext: {
        requestId: event.eventId,
        functionArn: `acs:fc:cn-beijing:${this.options.credentials.accountId}:functions/${event.fn}`,
        condition: 'UnhandledInvocationError',
        approximateInvokeCount: event.attempt + 1,
      },
      requestPayload: event.payload.toString('utf8'),
      responseContext: { statusCode: 200, functionError: 'UnhandledInvocationError' },
      responsePayload: JSON.stringify({ errorMessage: error, errorType: 'Error' }),
    });
  }

  /** Fire every timer trigger once (as FC's scheduler would), waiting for the runs. */
  async fireTimers(): Promise<unknown[]> {
    const runs: Promise<unknown>[] = [];
    for (const fn of this.functions.values()) {
      for (const t of fn.timers ?? []) {
        const payload = JSON.stringify({ triggerTime: new Date().toISOString(), triggerName: t.name, payload: t.payload ?? '' });
        runs.push(this.invoke(fn.name, payload).catch((err: unknown) => err));
      }
    }
    return Promise.all(runs);
  }

  /** Resolve when the async queue is empty and nothing runs. */
  drain(): Promise<void> {
    if (!this.queue.length && this.inFlight === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  stop(): void {
    for (const child of this.children) child.kill();
    this.stopped = true;
    clearTimeout(this.timer);
    this.queue.length = 0;
  }
}

/** `dist/import-image` + `index.handler` → [dist/import-image/index.js, 'handler']. */
let instancesLoaded = 0;

/** A CommonJS bundle loaded anew: a module instance of its own. */
function freshRequire(file: string): Record<string, unknown> & { default?: Record<string, unknown> } {
  const load = createRequire(import.meta.url);
  delete load.cache[load.resolve(file)];
  return load(file);
}

function resolveEntry(fn: LocalFunction): [string, string] {
  const [moduleName, exportName] = (fn.handler ?? 'index.handler').split('.') as [string, string];
  let file = isAbsolute(fn.entry) ? fn.entry : resolve(fn.entry);
  if (!/\.(c|m)?(j|t)s$/.test(file)) file = resolve(file, `${moduleName}.js`);
  return [file, exportName ?? 'handler'];
}
