import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The runtime's handler shape (its context's logger stays here: functions do not cross IPC). */
type InstanceHandler = (payload: Buffer, context: { logger: unknown; requestId: string }) => Promise<unknown>;

/**
 * A function instance in a process of its own, as FC runs instances: the bundle loaded once in
 * `process-instance.cjs`, invocations sent over IPC one at a time. Its log lines go to this
 * terminal when `echo`, else nowhere (the fan-out bench reads results and peak RSS, not logs).
 */
export function startProcessInstance(
  file: string,
  exportName: string,
  env: Record<string, string>,
  echo: boolean,
  onPeak: (pid: number, peakRssBytes: number) => void,
): { handler: InstanceHandler; kill(): void } {
  const child = fork(fileURLToPath(new URL('./process-instance.cjs', import.meta.url)), [file, exportName], {
    env,
    stdio: echo ? 'inherit' : ['ignore', 'ignore', 'ignore', 'ipc'],
  });
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let next = 0;
  child.on('message', (m: { id: number; ok: boolean; result?: unknown; error?: string; peakRssBytes: number }) => {
    onPeak(child.pid!, m.peakRssBytes);
    const w = waiting.get(m.id);
    waiting.delete(m.id);
    if (m.ok) w?.resolve(m.result);
    else w?.reject(new Error(m.error));
  });
  child.on('exit', () => {
    for (const w of waiting.values()) w.reject(new Error('the instance exited'));
  });
  const handler: InstanceHandler = (payload, context) =>
    new Promise((resolve, reject) => {
      const id = ++next;
      waiting.set(id, { resolve, reject });
      const { logger: _logger, ...fields } = context;
      child.send({ id, payload: payload.toString('base64'), context: fields });
    });
  return { handler, kill: () => child.kill() };
}
