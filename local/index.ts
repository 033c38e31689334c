import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CredentialStore, type AccessKey } from './credentials';
import { EnsStandIn, type EnsOptions } from './ens/server';
import { FcStandIn } from './fc/runtime';
import { FcApiServer } from './fc/server';
import type { PolicyDocument } from './ram-policy';
import { loadSYaml, type FunctionSpec } from './fc/s-yaml';
import { OssStandIn } from './oss/server';
import { WebhookReceiver, type RobotKind } from './webhook';
import { signState, verifyState } from '../shared/core/state-mac';

export { CredentialStore } from './credentials';
export type { AccessKey } from './credentials';
export { OssStandIn } from './oss/server';
export { EnsStandIn } from './ens/server';
export { FcStandIn } from './fc/runtime';

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** the functions' role, as deploy/README and s.yaml name it */
export const FUNCTION_ROLE = 'ens-importer-function';
const CONVERT_FUNCTION = 'ens-convert-image';
export const CONVERTER_ROLE = 'ens-importer-converter';

/** Fixed ports `npm start` uses (documented in the README). */
export const DEFAULT_PORTS = { oss: 9100, ens: 9101, fc: 9102, webhook: 9103 } as const;

/** The state prefix s.yaml deploys with; the stand-ins do not know the product's layout. */
const STATE_PREFIX = '.ens-importer/';

export interface LocalStackOptions {
  ports?: { oss?: number; ens?: number; fc?: number; webhook?: number };
  /** the chat robot the notices go to: a plain receiver, or a DingTalk or Lark robot with its signing secret */
  robot?: { kind: RobotKind; secret?: string };
  /** the functions' state HMAC key (IMPORTER_STATE_KEY, as the deploy creates one); false: none */
  stateKey?: string | false;
  /** Buckets to create; the s.yaml trigger's bucket is always created. */
  buckets?: { name: string; region?: string }[];
  dataDir?: string;
  /** s.yaml whose fc3 functions and OSS triggers are wired up; `false` wires nothing. */
  sYaml?: string | false;
  /** Run each function from its TypeScript source (default) or its built bundle in dist/. */
  functionCode?: 'source' | 'bundle';
  /** Extra environment for every function (IMPORTER_* settings). */
  functionEnv?: Record<string, string>;
  /** Override the async retry count of every function. */
  maxAsyncRetryAttempts?: number;
  retryBaseMs?: number;
  asyncConcurrency?: number;
  /** each concurrent invocation of a bundle in its own instance (its own module state), as on FC */
  isolateInstances?: boolean;
  /** each instance of a bundle a process of its own (the fan-out bench: instances on other cores) */
  processInstances?: boolean;
  echoLogs?: boolean;
  eventKeyEncoding?: 'raw' | 'url';
  /** OSS accepts V1 signatures only from accounts and buckets created before the V4-only dates */
  allowV1Signatures?: boolean;
  ens?: Pick<EnsOptions, 'schedule' | 'allowedPlatforms' | 'rateLimits' | 'listingOrder'>;
  accountId?: string;
  /**
   * Called for each trigger delivery with the function that queues it; by default it is
   * called once. The chaos run calls it twice, at once or later, as OSS sometimes does.
   */
  deliver?: (enqueue: () => void) => void;
  /** Fix the long-term key (npm start prints it; a test may want a known one). */
  rootKey?: AccessKey;
  /**
   * Bind the functions' STS keys to RAM policies, as their role does in the cloud: `true`
   * takes deploy/ram/function-policy.json. By default STS keys may do anything.
   */
  rolePolicies?: boolean | PolicyDocument[];
}

export interface LocalStack {
  accountId: string;
  /** The long-term key an operator's tools use against the stack. */
  credentials: AccessKey;
  region: string;
  /** The bucket s.yaml's OSS trigger watches (or the first created). */
  bucket: string;
  functions: FunctionSpec[];
  oss: OssStandIn;
  ens: EnsStandIn;
  fc: FcStandIn;
  /** the chat robot importer.yaml's notifications go to (IMPORTER_NOTIFY_WEBHOOK) */
  webhook: WebhookReceiver;
  endpoints: { oss: string; ens: string; fc: string };
  /** Every secret the stack knows, for asserting none leaks into a log. */
  secrets(): string[];
  /** Issue STS keys (a given token: real ones are base64 with `+`, `/` and `=`). */
  issueSts(token?: string): Required<AccessKey>;
  /** Wait until every queued asynchronous invocation has run. */
  settle(): Promise<void>;
  stop(): Promise<void>;
  /** Every object result the import function returned so far (for the demo, tests and bench). */
  importResults(): { key: string; outcome: string; [field: string]: unknown }[];
  /** what ens-convert-image returned, object by object */
  convertResults(): { key: string; outcome: string; [field: string]: unknown }[];
  /**
   * An object's body as text, whatever its storage (memory or file); undefined when absent. A
   * state object signed with the stack's key is shown without its MAC line; any other as stored.
   */
  objectText(key: string, bucket?: string): string | undefined;
  /** A state body as the functions would write it under `key`: signed with the stack's state key (if any). */
  signedState(key: string, body: string): string;
  /** The keys under a part of the state prefix (`claims/`, `pending/`, …), takeover markers left out. */
  stateKeys(sub: 'claims' | 'pending' | 'waiting' | 'conversions' | 'notices' | 'images' | 'keys', bucket?: string): string[];
  /** The environment `ens-importer` needs to work against this stack (keys and endpoints). */
  operatorEnv(): Record<string, string>;
  /** What the RAM API says the functions' role holds (doctor reads it); binds no key. */
  describeRole(policies: PolicyDocument[], role?: string): void;
}

/** Where the FC stand-in finds a function: its source in dev, else the bundle s.yaml names. */
function functionEntry(spec: FunctionSpec, code: 'source' | 'bundle'): string {
  const bundle = resolve(PROJECT_ROOT, spec.code);
  if (code === 'bundle') return bundle;
  const name = spec.code.replace(/\/+$/, '').split('/').pop()!;
  const source = resolve(PROJECT_ROOT, 'functions', name, 'index.ts');
  return existsSync(source) ? source : bundle;
}

export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const credentials = new CredentialStore(options.accountId, options.rootKey);
  const shippedPolicy = JSON.parse(readFileSync(resolve(PROJECT_ROOT, 'deploy/ram/function-policy.json'), 'utf8')) as PolicyDocument;
  const converterPolicy = JSON.parse(readFileSync(resolve(PROJECT_ROOT, 'deploy/ram/converter-policy.json'), 'utf8')) as PolicyDocument;
  credentials.describeRole(FUNCTION_ROLE, [shippedPolicy]);
  credentials.describeRole(CONVERTER_ROLE, [converterPolicy]);
  if (options.rolePolicies) {
    credentials.attachRolePolicies(FUNCTION_ROLE, options.rolePolicies === true ? [shippedPolicy] : options.rolePolicies);
    credentials.attachRolePolicies(CONVERTER_ROLE, [converterPolicy]);
  }
  const sYamlPath = options.sYaml === false ? undefined : (options.sYaml ?? resolve(PROJECT_ROOT, 's.yaml'));
  const functions = sYamlPath ? loadSYaml(sYamlPath, { AccountID: credentials.accountId }) : [];

  const buckets = [...(options.buckets ?? [])];
  for (const f of functions) {
    for (const t of f.ossTriggers) {
      if (!buckets.some((b) => b.name === t.bucket)) buckets.push({ name: t.bucket, region: t.region });
    }
  }
  if (!buckets.length) buckets.push({ name: 'ens-images', region: 'cn-beijing' });

  const oss = await new OssStandIn({
    credentials,
    port: options.ports?.oss,
    dataDir: options.dataDir,
    buckets,
    eventKeyEncoding: options.eventKeyEncoding,
    allowV1Signatures: options.allowV1Signatures,
  }).start();
  const ens = await new EnsStandIn({
    credentials,
    port: options.ports?.ens,
    objectExists: (region, bucket, key) => oss.hasObject(bucket, key, region),
    ...options.ens,
  }).start();
  // From source, the function's folder has no importer.yaml beside it: point at the project's.
  const stateKey = options.stateKey === false ? undefined : (options.stateKey ?? randomBytes(24).toString('base64url'));
  const webhook = await new WebhookReceiver(options.robot?.kind, options.robot?.secret).start(options.ports?.webhook ?? 0);
  const functionEnv = {
    ...(options.functionCode !== 'bundle' ? { IMPORTER_RULES: resolve(PROJECT_ROOT, 'importer.yaml') } : {}),
    // importer.yaml's notify.webhook reads this variable: the stack's receiver gets the notices
    IMPORTER_NOTIFY_WEBHOOK: webhook.url,
    ...(stateKey ? { IMPORTER_STATE_KEY: stateKey } : {}),
    ...(webhook.secret ? { IMPORTER_NOTIFY_SECRET: webhook.secret } : {}),
    // ImportImage pacing is per FC instance; without isolated instances every invocation here
    // shares one module (one pacer), so pacing would throttle the whole stack: off then
    ...(options.isolateInstances ? {} : { IMPORTER_ENS_IMPORT_QPS: '0' }),
    ...options.functionEnv,
  };
  const fc = new FcStandIn({
    credentials,
    retryBaseMs: options.retryBaseMs,
    asyncConcurrency: options.asyncConcurrency,
    isolateInstances: options.isolateInstances,
    processInstances: options.processInstances,
    echoLogs: options.echoLogs,
    env: { OSS_ENDPOINT: oss.endpoint, ENS_ENDPOINT: ens.endpoint, ...functionEnv },
  });
  for (const spec of functions) {
    fc.register({
      name: spec.functionName,
      entry: functionEntry(spec, options.functionCode ?? 'source'),
      handler: spec.handler,
      region: spec.region,
      memorySize: spec.memorySize,
      timeoutSeconds: spec.timeoutSeconds,
      // s.yaml's endpoints are the cloud's; the stand-ins' come after and win.
      env: { ...spec.environmentVariables, OSS_ENDPOINT: oss.endpoint, ENS_ENDPOINT: ens.endpoint, ...functionEnv },
      maxAsyncRetryAttempts: options.maxAsyncRetryAttempts ?? spec.maxAsyncRetryAttempts,
      onFailure: spec.onFailure,
      reservedConcurrency: spec.reservedConcurrency,
      role: spec.role,
      logBeginRule: spec.logBeginRule,
      triggers: spec.triggers,
      timers: spec.timerTriggers.filter((t) => t.enable).map((t) => ({ name: t.name, payload: t.payload })),
    });
    for (const t of spec.ossTriggers) {
      oss.subscribe({
        name: t.name,
        bucket: t.bucket,
        events: t.events,
        prefix: t.prefix,
        suffix: t.suffix,
        deliver: (payload) => {
          const enqueue = () => void fc.invokeAsync(spec.functionName, payload);
          if (options.deliver) options.deliver(enqueue);
          else enqueue();
        },
      });
    }
  }

  const fcApi = await new FcApiServer(fc, credentials).start(options.ports?.fc ?? 0);
  // the import function hands a .img to the converter through FC's API: this stack's
  for (const f of fc.functions.values()) f.env = { IMPORTER_FC_ENDPOINT: fcApi.endpoint, ...f.env };
  const main = buckets.find((b) => functions.some((f) => f.ossTriggers.some((t) => t.bucket === b.name))) ?? buckets[0]!;
  return {
    accountId: credentials.accountId,
    credentials: credentials.rootKey,
    region: main.region ?? 'cn-beijing',
    bucket: main.name,
    functions,
    oss,
    ens,
    fc,
    webhook,
    endpoints: { oss: oss.endpoint, ens: ens.endpoint, fc: fcApi.endpoint },
    secrets: () => credentials.secrets(),
    operatorEnv: () => ({
      ALIBABA_CLOUD_ACCESS_KEY_ID: credentials.rootKey.accessKeyId,
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: credentials.rootKey.accessKeySecret,
      ALIBABA_CLOUD_ACCOUNT_ID: credentials.accountId,
      OSS_ENDPOINT: oss.endpoint,
      ENS_ENDPOINT: ens.endpoint,
      // the RAM reads doctor makes are served on the POP (ENS) port
      IMPORTER_RAM_ENDPOINT: ens.endpoint,
      IMPORTER_FC_ENDPOINT: fcApi.endpoint,
      ...(stateKey ? { IMPORTER_STATE_KEY: stateKey } : {}),
    }),
    issueSts: (token) => credentials.issueSts(token),
    describeRole: (policies, role = FUNCTION_ROLE) => credentials.describeRole(role, policies),
    settle: () => fc.drain(),
    importResults: () =>
      fc.invocations
        .filter((i) => i.function !== CONVERT_FUNCTION)
        .flatMap((i) => (i.result as { results?: { key: string; outcome: string }[] } | undefined)?.results ?? []),
    convertResults: () =>
      fc.invocations
        .filter((i) => i.function === CONVERT_FUNCTION)
        .flatMap((i) => (i.result as { results?: { key: string; outcome: string }[] } | undefined)?.results ?? []),
    objectText: (key, bucket = main.name) => {
      const text = oss.readText(bucket, key);
      if (!stateKey || text === undefined || !key.startsWith(STATE_PREFIX)) return text;
      const verified = verifyState({ current: stateKey }, key, text);
      return verified.ok ? verified.body : text;
    },
    signedState: (key, body) => (stateKey ? signState({ current: stateKey }, key, body) : body),
    stateKeys: (sub, bucket = main.name) => oss.objectKeys(bucket, `${STATE_PREFIX}${sub}/`).filter((k) => !/\.g\d+$/.test(k)),
    stop: async () => {
      fc.stop();
      await Promise.all([oss.stop(), ens.stop(), fcApi.stop(), webhook.stop()]);
    },
  };
}
