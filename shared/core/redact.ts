/**
 * Remove secrets from text before it is logged. pop-core's error message and `err.url`
 * carry the whole signed URL (AccessKeyId, SecurityToken, Signature); ali-oss errors
 * can carry request headers.
 */
const SENSITIVE_PARAMS =
  /([?&](?:Signature|SecurityToken|AccessKeyId|OSSAccessKeyId|security-token|x-oss-security-token|x-oss-signature|x-oss-credential)=)[^&\s"']*/gi;
const SENSITIVE_FIELDS =
  /("?(?:accessKeySecret|accessKeyId|securityToken|stsToken|x-oss-security-token|x-fc-security-token|authorization|Signature|SecurityToken|AccessKeyId)"?\s*[:=]\s*"?)([^"\s,}&]+)/gi;
const AUTH_HEADERS = /\b(OSS4-HMAC-SHA256 Credential=|OSS |FC )[A-Za-z0-9.+/=_,:;-]+/g;

export function redact(text: string, secrets: readonly (string | undefined)[] = []): string {
  let out = text;
  for (const s of secrets) {
    if (s && s.length >= 4) out = out.split(s).join('[REDACTED]');
  }
  return out.replace(SENSITIVE_PARAMS, '$1[REDACTED]').replace(SENSITIVE_FIELDS, '$1[REDACTED]').replace(AUTH_HEADERS, '$1[REDACTED]');
}
