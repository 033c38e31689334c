import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { fc3PropsErrors, logBeginRuleOf } from './fc3-schema';

/** What the FC stand-in needs from one `fc3` resource of s.yaml. */
export interface FunctionSpec {
  resource: string;
  functionName: string;
  region: string;
  runtime: string;
  code: string;
  handler: string;
  memorySize: number;
  timeoutSeconds: number;
  environmentVariables: Record<string, string>;
  maxAsyncRetryAttempts: number;
  /** concurrencyConfig.reservedConcurrency: the function's instances at most */
  reservedConcurrency?: number;
  /** the function FC sends an event to when its retries are spent (asyncInvokeConfig.destinationConfig.onFailure) */
  onFailure?: string;
  ossTriggers: OssTriggerSpec[];
  /** the function's role ARN */
  role?: string;
  /** how FC cuts the function's output into SLS entries (logConfig; undefined: no logs shipped) */
  logBeginRule?: 'DefaultRegex' | 'None';
  /** every trigger as FC 3.0's ListTriggers describes it (triggerConfig as a JSON string) */
  triggers: DeployedTrigger[];
  timerTriggers: { name: string; cronExpression: string; payload?: string; enable: boolean }[];
}

export interface DeployedTrigger {
  triggerName: string;
  triggerType: string;
  sourceArn?: string;
  invocationRole?: string;
  triggerConfig: string;
}

export interface OssTriggerSpec {
  name: string;
  bucket: string;
  region: string;
  events: string[];
  prefix?: string;
  suffix?: string;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Resolve `${vars.x}` and `${config('AccountID')}` the way Serverless Devs renders them. */
export function renderTemplate(doc: Json, vars: Record<string, Json>, config: Record<string, string>): Json {
  const render = (s: string): Json => {
    const whole = /^\$\{\s*vars\.([\w-]+)\s*\}$/.exec(s);
    if (whole) return vars[whole[1]!] ?? '';
    return s
      .replace(/\$\{\s*vars\.([\w-]+)\s*\}/g, (_, k: string) => String(vars[k] ?? ''))
      .replace(/\$\{\s*config\(\s*'(\w+)'\s*\)\s*\}/g, (_, k: string) => config[k] ?? '')
      .replace(/\$\{\s*env\(\s*'(\w+)'\s*(?:,\s*'([^']*)'\s*)?\)\s*\}/g, (_, k: string, d?: string) => process.env[k] ?? d ?? '');
  };
  const walk = (v: Json): Json => {
    if (typeof v === 'string') return render(v);
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(doc);
}

export function loadSYaml(path: string, config: Record<string, string> = {}): FunctionSpec[] {
  const raw = parse(readFileSync(path, 'utf8')) as { vars?: Record<string, Json>; resources?: Record<string, Json> };
  const vars = (renderTemplate((raw.vars ?? {}) as Json, {}, config) ?? {}) as Record<string, Json>;
  const resources = renderTemplate((raw.resources ?? {}) as Json, vars, config) as Record<
    string,
    { component?: string; props?: Record<string, unknown> }
  >;
  const specs: FunctionSpec[] = [];
  for (const [resource, def] of Object.entries(resources)) {
    if (def.component !== 'fc3' || !def.props) continue;
    const p = def.props as Record<string, any>;
    const refused = fc3PropsErrors(p);
    if (refused.length) throw new Error(`s.yaml ${resource}: fc3's schema refuses the rendered props: ${refused.join('; ')}`);
    const destination = destinationFunction(p.asyncInvokeConfig?.destinationConfig?.onFailure?.destination);
    // Serverless Devs deploys resources in file order; FC refuses a destination that does not exist yet
    if (destination && !specs.some((s) => s.functionName === destination))
      throw new Error(
        `s.yaml ${resource}: its on-failure destination ${destination} must be a function defined above it (resources deploy in file order)`,
      );
    const triggers = (p.triggers ?? []) as Record<string, any>[];
    specs.push({
      resource,
      functionName: String(p.functionName ?? resource),
      region: String(p.region),
      runtime: String(p.runtime),
      code: String(p.code),
      handler: String(p.handler),
      memorySize: Number(p.memorySize ?? 128),
      timeoutSeconds: Number(p.timeout ?? 3),
      environmentVariables: Object.fromEntries(
        Object.entries((p.environmentVariables ?? {}) as Record<string, unknown>).map(([k, v]) => [k, String(v)]),
      ),
      maxAsyncRetryAttempts: Number(p.asyncInvokeConfig?.maxAsyncRetryAttempts ?? 3),
      role: p.role ? String(p.role) : undefined,
      logBeginRule: logBeginRuleOf(p.logConfig),
      reservedConcurrency: p.concurrencyConfig?.reservedConcurrency ? Number(p.concurrencyConfig.reservedConcurrency) : undefined,
      triggers: triggers.map((t) => ({
        triggerName: String(t.triggerName),
        triggerType: String(t.triggerType),
        ...(t.sourceArn ? { sourceArn: String(t.sourceArn) } : {}),
        ...(t.invocationRole ? { invocationRole: String(t.invocationRole) } : {}),
        triggerConfig: JSON.stringify(t.triggerConfig ?? {}),
      })),
      onFailure: destination,
      ossTriggers: triggers
        .filter((t) => t.triggerType === 'oss')
        .map((t) => {
          const arn = /^acs:oss:([^:]+):[^:]*:(.+)$/.exec(String(t.sourceArn));
          if (!arn) throw new Error(`s.yaml ${resource}: trigger ${t.triggerName} has an invalid sourceArn ${t.sourceArn}`);
          return {
            name: String(t.triggerName),
            region: arn[1]!,
            bucket: arn[2]!,
            events: (t.triggerConfig?.events ?? []).map(String),
            prefix: t.triggerConfig?.filter?.key?.prefix || undefined,
            suffix: t.triggerConfig?.filter?.key?.suffix || undefined,
          };
        }),
      timerTriggers: triggers
        .filter((t) => t.triggerType === 'timer')
        .map((t) => ({
          name: String(t.triggerName),
          cronExpression: String(t.triggerConfig?.cronExpression ?? ''),
          payload: t.triggerConfig?.payload,
          enable: t.triggerConfig?.enable !== false,
        })),
    });
  }
  return specs;
}

/** `acs:fc:<region>:<uid>:functions/<name>` → `<name>`; other destinations (MNS, EventBridge) are not run locally. */
function destinationFunction(arn: unknown): string | undefined {
  const m = /^acs:fc:[^:]*:[^:]*:functions\/([\w-]+)$/.exec(String(arn ?? ''));
  return m?.[1];
}
