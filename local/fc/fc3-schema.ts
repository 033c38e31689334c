import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';

/**
 * fc3's own check of a resource's `props` (vendor/fc3-schema.json, see vendor/README.md), so
 * that the local stack refuses an s.yaml the cloud deploy would mangle: a number where FC wants
 * a string stays a number after Serverless Devs renders `${vars.x}`.
 */

let validate: ValidateFunction | undefined;

function validator(): ValidateFunction {
  if (validate) return validate;
  const schema = JSON.parse(readFileSync(new URL('./vendor/fc3-schema.json', import.meta.url), 'utf8')) as object;
  validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
  return validate;
}

/** fc3's `auto|key=value|…` form (parseAutoConfig), which its schema's `const: "auto"` does not list. */
export const AUTO_WITH_PARAMS = /^auto(\|[A-Za-z]+=[^|=]+)*$/i;

/** What fc3's schema refuses in one resource's rendered props, one line each; [] when none. */
export function fc3PropsErrors(props: Record<string, unknown>): string[] {
  const checked = typeof props.logConfig === 'string' && AUTO_WITH_PARAMS.test(props.logConfig) ? { ...props, logConfig: 'auto' } : props;
  const check = validator();
  if (check(checked)) return [];
  return (check.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`);
}

/** The log segmentation FC applies to the function's SLS entries (fc3 turns `auto` into DefaultRegex). */
export function logBeginRuleOf(logConfig: unknown): 'DefaultRegex' | 'None' | undefined {
  if (logConfig === undefined || logConfig === null) return undefined;
  if (typeof logConfig === 'string') {
    const param = /\|logBeginRule=(\w+)/.exec(logConfig)?.[1];
    return param === 'None' ? 'None' : 'DefaultRegex';
  }
  const rule = (logConfig as { logBeginRule?: unknown }).logBeginRule;
  return rule === 'DefaultRegex' ? 'DefaultRegex' : 'None';
}
