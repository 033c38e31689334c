/** The importer's object tags, merged with the user's (never dropping one). */

export const TAG_IMAGE_ID = 'ens:image-id';
export const TAG_STATUS = 'ens:status';
export const TAG_ERROR = 'ens:error';
export const IMPORTER_TAG_KEYS = [TAG_IMAGE_ID, TAG_STATUS, TAG_ERROR] as const;
export const MAX_TAGS = 10;

/** `retrying`: a transient failure, FC retries the event; `failed`: retries are over, or an operator must act */
/** `deleted`: the version's image was available, then ENS stopped having it (deleted in ENS) */
export type ImportStatus = 'importing' | 'retrying' | 'available' | 'failed' | 'rejected' | 'deleted' | 'superseded' | ConversionStatus;
/** a source in another format: being converted, or converted (its qcow2 is then imported) */
export type ConversionStatus = 'converting' | 'converted';

/**
 * What ali-oss sends (it checks before sending): ASCII letters, digits, space and
 * `+ - = . _ : /`, a value never empty, a key at most 128 and a value at most 256 long.
 */
const SENDABLE = /^[A-Za-z0-9 +\-=._:/]+$/;
const NOT_SENDABLE_CHAR = /[^A-Za-z0-9 +\-=._:/]/g;

/** The importer's own tag values are made sendable: anything else becomes `_`. */
export function tagValue(text: string): string {
  return (text.replace(NOT_SENDABLE_CHAR, '_') || '_').slice(0, 256);
}

/** The tags of a set that ali-oss would refuse to send. */
export function unsendableTags(tags: Record<string, string>): string[] {
  return Object.entries(tags)
    .filter(([k, v]) => !SENDABLE.test(k) || k.length > 128 || !SENDABLE.test(v) || v.length > 256)
    .map(([k]) => k);
}

export interface TagMerge {
  tags: Record<string, string>;
  /** importer tags that did not fit beside the user's */
  left: string[];
}

/**
 * Keep every user tag; set the importer's tags in priority order (image id, status,
 * error) while there is room; an importer tag not given is removed (an old `ens:error`
 * must not outlive a successful retry).
 */
export function mergeTags(
  current: Record<string, string>,
  importer: Partial<Record<(typeof IMPORTER_TAG_KEYS)[number], string>>,
): TagMerge {
  // A Map, because a user may well have a tag named "__proto__".
  const tags = new Map<string, string>();
  for (const [k, v] of Object.entries(current)) {
    if (!(IMPORTER_TAG_KEYS as readonly string[]).includes(k)) tags.set(k, v);
  }
  const left: string[] = [];
  for (const key of IMPORTER_TAG_KEYS) {
    const value = importer[key];
    if (value === undefined) continue;
    if (tags.size < MAX_TAGS) tags.set(key, tagValue(value));
    else left.push(key);
  }
  return { tags: Object.fromEntries(tags), left };
}
