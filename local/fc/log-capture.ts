import { AsyncLocalStorage } from 'node:async_hooks';
import { format } from 'node:util';

/**
 * What FC's Node.js runtime does with a function's output: every `console.*` and
 * `context.logger` line is prefixed `<time> <requestId> [<level>] `; bytes written to
 * process.stdout directly arrive as they are (cloud-facts, "FC logs"). Output made while an
 * invocation runs is attributed to it through async context, however the calls interleave.
 */

export interface CapturedLine {
  level: string;
  message: string;
  /** true when written to process.stdout directly (no prefix) */
  raw: boolean;
}

interface Sink {
  requestId: string;
  write(line: CapturedLine): void;
}

const current = new AsyncLocalStorage<Sink>();
let installed = false;

export const prefixed = (requestId: string, level: string, text: string): string =>
  `${new Date().toISOString()} ${requestId} [${level.toUpperCase()}] ${text}`;

function install(): void {
  if (installed) return;
  installed = true;
  const originalWrite = process.stdout.write.bind(process.stdout);
  let buffered = '';
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    const sink = current.getStore();
    if (!sink) return (originalWrite as (...a: unknown[]) => boolean)(chunk, ...rest);
    buffered += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) sink.write({ level: 'info', message: line, raw: true });
    const callback = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
    callback?.();
    return true;
  }) as typeof process.stdout.write;
  for (const level of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    const original = console[level].bind(console);
    console[level] = (...args: unknown[]) => {
      const sink = current.getStore();
      if (!sink) return original(...args);
      sink.write({
        level: level === 'log' ? 'info' : level,
        message: prefixed(sink.requestId, level === 'log' ? 'info' : level, format(...args)),
        raw: false,
      });
    };
  }
}

/** Run `fn` with its output captured for one invocation. */
export function captureOutput<T>(requestId: string, write: (line: CapturedLine) => void, fn: () => Promise<T>): Promise<T> {
  install();
  return current.run({ requestId, write }, fn);
}

/** Write to the real stdout from inside an invocation (the local stack echoing its functions' lines). */
export function writeOutside(text: string): void {
  current.exit(() => process.stdout.write(text));
}
