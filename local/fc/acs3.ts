import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/**
 * The V3 request signature (ACS3-HMAC-SHA256) of Alibaba Cloud's OpenAPI, as
 * @alicloud/openapi-core computes it for the FC 3.0 API (2023-03-30): a canonical request of
 * method, path, sorted query, the signed headers (x-acs-*, host, content-type) and the body's
 * SHA-256, hashed; the signature is its HMAC-SHA256 with the secret, in hex. Written from the
 * protocol, not shared with the SDK that signs.
 */

export interface Acs3Authorization {
  accessKeyId: string;
  signedHeaders: string[];
  signature: string;
}

export function parseAcs3(header: string | undefined): Acs3Authorization | undefined {
  const m = /^ACS3-HMAC-SHA256 Credential=([^,]+),SignedHeaders=([^,]*),Signature=([0-9a-f]+)$/.exec(String(header ?? ''));
  return m ? { accessKeyId: m[1]!, signedHeaders: m[2]!.split(';').filter(Boolean), signature: m[3]! } : undefined;
}

const rfc3986 = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

export function acs3Signature(
  method: string,
  rawPath: string,
  query: URLSearchParams,
  headers: IncomingHttpHeaders,
  signed: string[],
  bodySha256: string,
  secret: string,
): string {
  const canonicalQuery = [...query.keys()]
    .sort()
    .map((k) => `${k}=${rfc3986(query.get(k) ?? '')}`)
    .join('&');
  const canonicalHeaders = signed.map((h) => `${h}:${String(headers[h] ?? '').trim()}\n`).join('');
  const canonicalRequest = [method, rawPath, canonicalQuery, canonicalHeaders, signed.join(';'), bodySha256].join('\n');
  const stringToSign = `ACS3-HMAC-SHA256\n${createHash('sha256').update(canonicalRequest).digest('hex')}`;
  return createHmac('sha256', secret).update(stringToSign).digest('hex');
}

export const sha256Hex = (body: Buffer): string => createHash('sha256').update(body).digest('hex');

export function sameHex(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
