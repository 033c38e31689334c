import type { LocalStack } from '../../local/index';

/** Read an object's body straight from the OSS stand-in (for assertions on state objects). */
export const objectText = (stack: LocalStack, key: string, bucket = stack.bucket): string | undefined => stack.objectText(key, bucket);

export const stateKeys = (stack: LocalStack, sub: 'claims' | 'pending', bucket = stack.bucket): string[] => stack.stateKeys(sub, bucket);

export function recordFor(stack: LocalStack, key: string): any {
  for (const k of stateKeys(stack, 'claims')) {
    const r = JSON.parse(objectText(stack, k)!);
    if (r.key === key) return r;
  }
  return undefined;
}

export const importResults = (stack: LocalStack): any[] => stack.importResults();
