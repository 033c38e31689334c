/**
 * User metadata arrives in HTTP headers. A client that can send non-ASCII text sends
 * raw UTF-8 bytes (which Node hands us as latin1 characters); most clients cannot and
 * percent-encode it instead. OSS stores whatever it received, so accept both.
 */
export function decodeMetaValue(raw: string): string {
  let text = raw;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the test is for any Latin-1 code point, controls included
  if (/[\u0080-\u00ff]/.test(raw) && !/[^\u0000-\u00ff]/.test(raw)) {
    const bytes = Buffer.from(raw, 'latin1');
    const utf8 = bytes.toString('utf8');
    if (Buffer.from(utf8, 'utf8').equals(bytes)) text = utf8;
  }
  if (/%[0-9A-Fa-f]{2}/.test(text)) {
    try {
      text = decodeURIComponent(text);
    } catch {
      // a literal '%' that is not an escape: keep the text as it is
    }
  }
  return text.trim();
}

/** Lower-cased metadata names with decoded values. */
export function decodeUserMeta(meta: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(meta)) out[k.toLowerCase()] = decodeMetaValue(v);
  return out;
}
