import type { IncomingHttpHeaders } from 'node:http';
import { OssError } from './errors';

/** OSS's limits on what a request may carry (pure). */

// The product keeps its own copy of the tag character set (shared/core/tags.ts): an emulator
// must not share code with what it checks.
// OSS accepts ASCII letters and digits only, not every Unicode letter (cloud-facts: OSS tag characters)
const TAG_CHARS = /^[A-Za-z0-9 +\-=._:/]*$/;
export const MIN_PART_SIZE = 100 * 1024;
const MAX_META_BYTES = 8192;

/** Parse `a=b&c=d` (x-oss-tagging) and apply OSS's tag limits. */
export function validateTags(tags: [string, string][]): Map<string, string> {
  if (tags.length > 10) throw new OssError(400, 'InvalidTag', 'Object tags cannot be greater than 10');
  const out = new Map<string, string>();
  for (const [k, v] of tags) {
    if (k.length < 1 || k.length > 128 || !TAG_CHARS.test(k)) throw new OssError(400, 'InvalidTag', `The tag key "${k}" is invalid`);
    if (v.length > 256 || !TAG_CHARS.test(v)) throw new OssError(400, 'InvalidTag', `The tag value "${v}" is invalid`);
    if (out.has(k)) throw new OssError(400, 'InvalidTag', `Duplicate tag key "${k}"`);
    out.set(k, v);
  }
  return out;
}

export function taggingHeader(value: string | string[] | undefined): Map<string, string> {
  if (typeof value !== 'string' || value === '') return new Map();
  return validateTags([...new URLSearchParams(value).entries()]);
}

// The product decodes metadata with its own code (shared/core/metadata.ts decodeMetaValue).
/** Bytes received in a header reach Node as latin1; read them as UTF-8 where they are. */
export function headerToText(value: string): string {
  const bytes = Buffer.from(value, 'latin1');
  const text = bytes.toString('utf8');
  return Buffer.from(text, 'utf8').equals(bytes) ? text : value;
}

/** The x-oss-meta-* headers, prefix stripped, within OSS's size limit. */
export function userMeta(headers: IncomingHttpHeaders): Record<string, string> {
  const meta: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers))
    if (k.startsWith('x-oss-meta-') && typeof v === 'string') meta[k.slice('x-oss-meta-'.length)] = v;
  if (JSON.stringify(meta).length > MAX_META_BYTES)
    throw new OssError(400, 'MetadataTooLarge', 'Your metadata headers exceed the maximum allowed metadata size.');
  return meta;
}
