import { readBody } from '../../http';
import { OssError } from '../errors';
import { requireObject, type OssAnswer, type OssRequest } from '../request';
import type { Bucket } from '../store';
import { validateTags } from '../validation';
import { parseXml } from '../xml';

/** PutObjectTagging (the whole set, replaced), GetObjectTagging, DeleteObjectTagging. */

export async function putTagging(bucket: Bucket, req: OssRequest): Promise<OssAnswer> {
  const body = (await readBody(req.body, 1 << 20)).toString('utf8');
  const obj = requireObject(bucket, req.key);
  let parsed: Record<string, unknown>;
  try {
    parsed = parseXml(body);
  } catch {
    throw new OssError(400, 'MalformedXML', 'The XML you provided was not well-formed.');
  }
  const tagging = parsed.Tagging as { TagSet?: { Tag?: { Key?: unknown; Value?: unknown }[] } | '' } | undefined;
  if (!tagging) throw new OssError(400, 'MalformedXML', 'The XML you provided was not well-formed.');
  const list = (typeof tagging.TagSet === 'object' ? tagging.TagSet.Tag : undefined) ?? [];
  obj.tags = validateTags(list.map((t) => [String(t.Key ?? ''), t.Value === undefined ? '' : String(t.Value)]));
  return { status: 200 };
}

export function getTagging(bucket: Bucket, req: OssRequest): OssAnswer {
  const obj = requireObject(bucket, req.key);
  return { status: 200, xml: { root: 'Tagging', body: { TagSet: { Tag: [...obj.tags].map(([Key, Value]) => ({ Key, Value })) } } } };
}

export function deleteTagging(bucket: Bucket, req: OssRequest): OssAnswer {
  requireObject(bucket, req.key).tags = new Map();
  return { status: 204 };
}
