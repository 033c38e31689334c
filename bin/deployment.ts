import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

/**
 * What the operator tools need from the deployed s.yaml: each fc3 function's OSS triggers.
 * The CLI reads s.yaml itself (the FC stand-in has its own reader): a tool that checks a
 * deployment must not share its reading with the emulator it is tested against.
 */

export interface DeclaredTrigger {
  name: string;
  bucket: string;
  events: string[];
  prefix?: string;
  suffix?: string;
}

export interface DeclaredFunction {
  functionName: string;
  ossTriggers: DeclaredTrigger[];
}

type Trigger = {
  triggerName?: string;
  triggerType?: string;
  sourceArn?: string;
  triggerConfig?: { events?: unknown[]; filter?: { key?: { prefix?: string; suffix?: string } } };
};

type Doc = { vars?: Record<string, unknown>; resources?: Record<string, { component?: string; props?: Record<string, unknown> }> };

/** `${vars.x}` and `${config('AccountID')}` as Serverless Devs renders them. */
function render(text: unknown, vars: Record<string, unknown>, accountId: string): string {
  return String(text ?? '')
    .replace(/\$\{\s*vars\.([\w-]+)\s*\}/g, (_, k: string) => String(vars[k] ?? ''))
    .replace(/\$\{\s*config\(\s*'AccountID'\s*\)\s*\}/g, accountId);
}

export function declaredFunctions(path: string, accountId = ''): DeclaredFunction[] {
  const doc = parse(readFileSync(path, 'utf8')) as Doc;
  const vars = doc.vars ?? {};
  return Object.entries(doc.resources ?? {})
    .filter(([, r]) => r.component === 'fc3' && r.props)
    .map(([name, r]) => {
      const p = r.props as { functionName?: string; triggers?: Trigger[] };
      const ossTriggers = (p.triggers ?? [])
        .filter((t) => t.triggerType === 'oss')
        .map((t) => {
          const arn = render(t.sourceArn, vars, accountId);
          const key = t.triggerConfig?.filter?.key ?? {};

          return {
            name: String(t.triggerName),
            bucket: arn.split(':').pop() ?? '',
            events: (t.triggerConfig?.events ?? []).map(String),
            prefix: render(key.prefix, vars, accountId) || undefined,
            suffix: render(key.suffix, vars, accountId) || undefined,
          };
        });
      return { functionName: render(p.functionName ?? name, vars, accountId), ossTriggers };
    });
}
