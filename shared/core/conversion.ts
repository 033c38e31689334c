/**
 * The converter's pure decisions: where a source's qcow2 goes, which metadata it carries, how
 * big each multipart part is. No I/O.
 */

export const DEFAULT_OUTPUT_TEMPLATE = '{dir}{name}.qcow2';
/** metadata the converter sets on its output: where it came from (not `ens-`: rules refuse unknown ones) */
export const META_SOURCE_KEY = 'importer-source';
export const META_SOURCE_ETAG = 'importer-source-etag';

/** `{dir}` is the source's folder with its slash, `{name}` its file name without the suffix. */
export function outputKeyFor(sourceKey: string, template = DEFAULT_OUTPUT_TEMPLATE): string {
  const slash = sourceKey.lastIndexOf('/');
  const dir = sourceKey.slice(0, slash + 1);
  const file = sourceKey.slice(slash + 1);
  const dot = file.lastIndexOf('.');
  const name = dot > 0 ? file.slice(0, dot) : file;
  return template.replaceAll('{dir}', dir).replaceAll('{name}', name);
}

/** Why a template cannot be used (checked when the function's settings are read), or undefined. */
export function outputTemplateProblem(template: string, watchedPrefix: string): string | undefined {
  if (!template.includes('{name}')) return 'it must contain {name}, or every source would write the same key';
  if (!template.endsWith('.qcow2')) return 'it must end with .qcow2, the suffix the import trigger watches';
  if (!template.startsWith('{dir}') && !template.startsWith(watchedPrefix))
    return `it must start with {dir} or the watched prefix ${watchedPrefix}, or the import trigger never sees the output`;
  if (/\.\.|\/\//.test(template)) return 'it must not contain .. or //';
  return undefined;
}

/**
 * The source's `ens-*` metadata as received (the import reads it from the output as from any
 * upload), and the link back to the source version.
 */
export function outputMeta(
  sourceMeta: Record<string, string>,
  sourceKey: string,
  sourceEtag: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  const meta: Record<string, string> = {};
  for (const [k, v] of Object.entries(sourceMeta)) if (k.toLowerCase().startsWith('ens-')) meta[k.toLowerCase()] = v;
  return { ...meta, ...extra, [META_SOURCE_KEY]: encodeURIComponent(sourceKey), [META_SOURCE_ETAG]: sourceEtag };
}

/** The source a converted qcow2 names in its metadata, if it names one. */
export function sourceOf(meta: Record<string, string>): { key: string; etag: string } | undefined {
  const key = meta[META_SOURCE_KEY];
  const etag = meta[META_SOURCE_ETAG];
  if (!key || !etag) return undefined;
  try {
    return { key: decodeURIComponent(key), etag };
  } catch {
    return undefined;
  }
}

export const MiB = 1 << 20;
/** OSS: parts 1 to 10,000, each at least 100 KiB but the last */
export const MAX_PARTS = 10_000;
export const MIN_PART_BYTES = 100 * 1024;

/**
 * Part n's size: 8 MiB, doubling every 2,000 parts up to 32 MiB. A small image needs few
 * requests and little memory (two parts are held: one filling, one uploading); the largest
 * output that fits 10,000 parts is then about 234 GiB of stored clusters.
 */
export function partBytes(part: number): number {
  return 8 * MiB * 2 ** Math.min(2, Math.floor(Math.max(0, part - 2) / 2000));
}

/** The stored bytes parts 2..MAX_PARTS hold in all (part 1 is the head). */
export function outputCapacity(): number {
  let total = 0;
  for (let p = 2; p <= MAX_PARTS; p++) total += partBytes(p);
  return total;
}

/**
 * Why a conversion of `objectBytes` cannot finish in the time left, or undefined when it can.
 * The bytes read bound the work (a sparse format's unallocated regions cost nothing; a raw
 * disk is read whole), at `rateMBps`, the guest rate one instance was measured to reach.
 */
export function cannotFinish(objectBytes: number, rateMBps: number, leftMs: number): string | undefined {
  const neededMs = (objectBytes / (rateMBps * 1e6)) * 1000;
  if (neededMs <= leftMs) return undefined;
  const s = (ms: number) => Math.ceil(ms / 1000);
  return `${objectBytes} bytes at ${rateMBps} MB/s (IMPORTER_CONVERT_RATE_MBPS) need about ${s(neededMs)} s; the function has ${Math.max(0, s(leftMs))} s left`;
}
