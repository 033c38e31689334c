/**
 * Remove secrets from text before it is logged. pop-core's error message and `err.url`
 * carry the whole signed URL (AccessKeyId, SecurityToken, Signature); ali-oss errors
 * can carry request headers.
 */
const SENSITIVE_PARAMS =
  /([?&](?:Signature|SecurityToken|AccessKeyId|OSSAccessKeyId|security-token|x-oss-security-token|x-oss-signature|x-oss-credential)=)[^&\s"']*/gi;
const SENSITIVE_FIELDS =
  /("?(?:accessKeySecret|accessKeyId|securityToken|stsToken|x-oss-security-token|x-fc-security-token|authorization|Signature|SecurityToken|AccessKeyId)"?\s*[:=]\s*"?)([^"\s,}&]+)/gi;
// V4's credential scope; V1 and FC 2.0's `OSS|FC <AccessKeyId>:<signature>` (the colon keeps prose such as "FC gave up" intact)
const AUTH_HEADERS = /\b(OSS4-HMAC-SHA256 Credential=|OSS (?=[A-Za-z0-9.]+:)|FC (?=[A-Za-z0-9.]+:))[A-Za-z0-9.+/=_,:;-]+/g;

/** RFC 3986, as pop-core encodes: encodeURIComponent plus ! ' ( ) * */
const rfc3986 = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/**
 * Every form a secret takes in the text SDKs and gateways echo: raw, percent-encoded once
 * (a query string) and twice (the POP string to sign holds the encoded query encoded again),
 * form-encoded (`+` for space), in upper- or lower-case hex.
 */
const formsCache = new Map<string, string[]>();

export function secretForms(secret: string): string[] {
  const cached = formsCache.get(secret);
  if (cached) return cached;
  // an instance sees few keys (its role's, rotated now and then): keep the forms of the latest
  if (formsCache.size > 32) formsCache.clear();
  const forms = computeForms(secret);
  formsCache.set(secret, forms);
  return forms;
}

function computeForms(secret: string): string[] {
  const once = [encodeURIComponent(secret), rfc3986(secret)];
  const twice = once.flatMap((e) => [encodeURIComponent(e), rfc3986(e)]);
  const form = once.map((e) => e.replace(/%20/g, '+'));
  const all = [secret, ...once, ...twice, ...form];
  return [...new Set([...all, ...all.map((e) => e.replace(/%[0-9A-F]{2}/g, (h) => h.toLowerCase()))])].sort((a, b) => b.length - a.length);
}

export function redact(text: string, secrets: readonly (string | undefined)[] = []): string {
  let out = text;
  for (const s of secrets) {
    if (!s || s.length < 4) continue;
    for (const form of secretForms(s)) out = out.split(form).join('[REDACTED]');
  }
  // the header's own form first: the field pattern would take only its scheme word
  return out.replace(AUTH_HEADERS, '$1[REDACTED]').replace(SENSITIVE_PARAMS, '$1[REDACTED]').replace(SENSITIVE_FIELDS, '$1[REDACTED]');
}
