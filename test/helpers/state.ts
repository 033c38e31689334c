import type { LocalStack } from '../../local/index';

/** Read an object's body straight from the OSS stand-in (for assertions on state objects). */
export function objectText(stack: LocalStack, key: string, bucket = stack.bucket): string | undefined {
  const obj = stack.oss.getObject(bucket, key);
  return obj?.segments.map((s) => (s.kind === 'buffer' ? s.data.toString('utf8') : '')).join('');
}

export function stateKeys(stack: LocalStack, sub: 'claims' | 'pending', bucket = stack.bucket): string[] {
  return [...stack.oss.buckets.get(bucket)!.objects.keys()].filter((k) => k.startsWith(`.ens-importer/${sub}/`) && !/\.g\d+$/.test(k));
}

export function recordFor(stack: LocalStack, key: string): any {
  for (const k of stateKeys(stack, 'claims')) {
    const r = JSON.parse(objectText(stack, k)!);
    if (r.key === key) return r;
  }
  return undefined;
}

export function importResults(stack: LocalStack): any[] {
  return stack.fc.invocations.flatMap((i) => ((i.result as any)?.results ?? []) as any[]);
}
