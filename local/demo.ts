import OSS from 'ali-oss';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DEFAULT_PORTS, PROJECT_ROOT, startLocalStack, type LocalStack } from './index';

/**
 * The main job on the local stack: the import function (built bundle) wired to the OSS
 * trigger from s.yaml, a good and a bad upload through ali-oss, and what happened to each.
 */

const sample = (name: string): Buffer => gunzipSync(readFileSync(resolve(PROJECT_ROOT, 'local/samples', name)));

function clientFor(stack: LocalStack): OSS {
  return new OSS({
    authorizationV4: true,
    region: `oss-${stack.region}`,
    bucket: stack.bucket,
    endpoint: stack.endpoints.oss,
    accessKeyId: stack.credentials.accessKeyId,
    accessKeySecret: stack.credentials.accessKeySecret,
  });
}

function readRecord(stack: LocalStack, key: string): Record<string, any> | undefined {
  for (const k of stack.stateKeys('claims')) {
    try {
      const record = JSON.parse(stack.objectText(k) ?? '');
      if (record.key === key) return record;
    } catch {
      // not a record: the demo shows what it can
    }
  }
  return undefined;
}

async function showObject(stack: LocalStack, client: OSS, key: string, out: (s: string) => void): Promise<void> {
  const result = stack
    .importResults()
    .filter((r) => r.key === key)
    .at(-1);
  out(`\n── oss://${stack.bucket}/${key}`);
  if (!result) {
    const failed = stack.fc.failedEvents.map((f) => f.error).at(-1);
    out(`   no result${failed ? `: the function failed (${failed.split('\n')[0]})` : ' yet'}`);
    return;
  }
  out(`   outcome   ${result.outcome}${result.errorCode ? `  (${result.errorCode})` : ''}`);
  if (result.imageId) out(`   ImageId   ${result.imageId}`);
  if (result.reason) out(`   reason    ${result.reason}`);
  const record = readRecord(stack, key);
  if (record?.params) {
    out('   ImportImage parameters:');
    for (const [name, v] of Object.entries(record.params as Record<string, { value: string; source: string; original?: string }>)) {
      out(`     ${name.padEnd(18)} ${v.value.padEnd(34)} from ${v.source}${v.original ? ` (was "${v.original}")` : ''}`);
    }
  }
  const tags = (await (client as any).getObjectTagging(key)).tag as Record<string, string>;
  out(
    `   tags      ${
      Object.entries(tags)
        .map(([k, v]) => `${k}=${v}`)
        .join('  ') || '(none)'
    }`,
  );
}

/**
 * ENS makes an image available minutes after its import: the demo moves the ENS stand-in's
 * clock past that and runs the tracker (its timer fires every 5 minutes in FC).
 */
async function followImports(stack: LocalStack, out: (s: string) => void): Promise<void> {
  stack.ens.clock.advance(10 * 60_000);
  await stack.fc.fireTimers();
  out('   (ENS clock moved 10 minutes on; the tracker ran)');
}

/** What `ens-importer images` lists: every image the importer made, from its records. */
function showImages(stack: LocalStack, out: (s: string) => void): void {
  out(`\n── images the importer made (ens-importer images oss://${stack.bucket}/images/)`);
  for (const k of stack.stateKeys('claims')) {
    let r: Record<string, any> | undefined;
    try {
      r = JSON.parse(stack.objectText(k) ?? '');
    } catch {
      continue;
    }
    if (!r?.imageId) continue;
    const by = r.supersededBy ? `  (superseded by ${r.supersededBy.imageId})` : '';
    out(`   ${r.imageId}  ${String(r.state).padEnd(10)} ${r.key}${by}`);
  }
}

/** The local stack's keys (fixed for `npm start`) and endpoints, as the CLI reads them. */
export const DEMO_KEY = { accessKeyId: 'LTAIlocaldemokey', accessKeySecret: 'local-demo-secret-change-me' };

/** What `ens-importer local --env` prints: the exports for the stack `npm start` serves on `base`… */
export function localEnv(base: number = DEFAULT_PORTS.oss): Record<string, string> {
  const at = (offset: number) => `http://127.0.0.1:${base + offset}`;
  return {
    ALIBABA_CLOUD_ACCESS_KEY_ID: DEMO_KEY.accessKeyId,
    ALIBABA_CLOUD_ACCESS_KEY_SECRET: DEMO_KEY.accessKeySecret,
    // the stand-ins' account (local/credentials.ts)
    ALIBABA_CLOUD_ACCOUNT_ID: '1234567890123456',
    OSS_ENDPOINT: at(0),
    ENS_ENDPOINT: at(1),
    IMPORTER_RAM_ENDPOINT: at(1),
    IMPORTER_FC_ENDPOINT: at(2),
    ALIBABA_CLOUD_REGION_ID: 'cn-beijing',
  };
}

export interface DemoOptions {
  serve: boolean;
  ports?: { oss: number; ens: number; fc: number; webhook: number };
  out?: (s: string) => void;
  dataDir?: string;
}

export async function runDemo(options: DemoOptions): Promise<LocalStack> {
  const out = options.out ?? ((s: string) => console.log(s));
  const stack = await startLocalStack({
    ports: options.serve ? (options.ports ?? DEFAULT_PORTS) : undefined,
    functionCode: 'bundle',
    dataDir: options.dataDir,
    retryBaseMs: 200,
    rootKey: options.serve ? DEMO_KEY : undefined,
  });
  const client = clientFor(stack);
  // the import function by its trigger, not its place in s.yaml (the on-failure function deploys first)
  const fn = stack.functions.find((f) => f.ossTriggers.length)!;
  const trigger = fn.ossTriggers[0]!;
  out('ens-image-importer: local stack');
  out(`  OSS  ${stack.endpoints.oss}   bucket ${stack.bucket} (${stack.region})`);
  out(`  ENS  ${stack.endpoints.ens}   API 2017-11-10`);
  out(`  FC API  ${stack.endpoints.fc}   webhook ${stack.webhook.endpoint}`);
  out(
    `  FC   function ${fn.functionName} from ${fn.code}, OSS trigger ${trigger.events.join(', ')} on ${trigger.prefix ?? ''}*${trigger.suffix ?? ''}`,
  );
  out(`  AccessKeyId ${stack.credentials.accessKeyId}   AccessKeySecret ${stack.credentials.accessKeySecret}  (local stack only)`);

  const good = 'images/ubuntu/22.04/web-server-1.0.qcow2';
  const bad = 'images/ubuntu/22.04/layered.qcow2';
  const vmdk = 'images/ubuntu/22.04/appliance.vmdk';
  out(`\nUploading ${good} (a clean qcow2 v3), ${bad} (a qcow2 with a backing file) and ${vmdk} (a VMDK) through ali-oss…`);
  await client.put(good, sample('ubuntu-server.qcow2.gz'));
  await client.put(bad, sample('with-backing-file.qcow2.gz'));
  await client.put(vmdk, sample('appliance.vmdk.gz'));
  await stack.settle();
  await followImports(stack, out);
  await showObject(stack, client, good, out);
  await showObject(stack, client, bad, out);
  out(`\n── oss://${stack.bucket}/${vmdk}: converted by ens-convert-image, then imported`);
  await showObject(stack, client, vmdk.replace(/\.vmdk$/, '.qcow2'), out);

  out(`\nUploading a corrected ${good} (new bytes): a new image; the first is superseded…`);
  await client.put(good, Buffer.concat([sample('ubuntu-server.qcow2.gz'), Buffer.from('corrected')]));
  await stack.settle();
  await followImports(stack, out);
  await showObject(stack, client, good, out);
  showImages(stack, out);
  out(`\n── chat robot at ${stack.webhook.endpoint} (importer.yaml notify: on failed, rejected, available, deleted)`);
  for (const n of stack.webhook.received) {
    const b = n.body as { outcome?: string; key?: string; errorCode?: string };
    out(`   ${b.outcome}  ${b.key}${b.errorCode ? `  (${b.errorCode})` : ''}`);
  }
  if (!stack.webhook.received.length) out('   nothing received');

  if (options.serve) {
    out('\nPoint ens-importer (or any Alibaba Cloud SDK) at this stack: paste into a shell, or run');
    out('`ens-importer local --env` in one:');
    for (const [k, v] of Object.entries({ ...stack.operatorEnv(), ALIBABA_CLOUD_REGION_ID: stack.region })) out(`  export ${k}=${v}`);
    out(`
Then: ens-importer status oss://${stack.bucket}/images/   ens-importer why oss://${stack.bucket}/<key>   ens-importer images oss://${stack.bucket}/images/`);
    out(`
The stack keeps running. Upload your own image with any OSS client, for example:
  node -e "const OSS=require('ali-oss');new OSS({authorizationV4:true,region:'oss-${stack.region}',bucket:'${stack.bucket}',endpoint:'${stack.endpoints.oss}',accessKeyId:'${stack.credentials.accessKeyId}',accessKeySecret:'${stack.credentials.accessKeySecret}'}).put('images/ubuntu/22.04/my-image.qcow2','./my-image.qcow2').then(()=>console.log('uploaded'))"
Each import prints one JSON log line below; the tracker runs every 30 s and reports\nimages becoming available (about 5 minutes after the import). Ctrl-C stops the stack.`);
    // FC's scheduler fires the tracker every 5 minutes; locally every 30 s. The ENS
    // stand-in makes an image Available 5 minutes after its import.
    setInterval(() => void stack.fc.fireTimers(), 30_000).unref();
    let shown = stack.fc.logs.length;
    setInterval(() => {
      for (const line of stack.fc.logs.slice(shown)) out(line.message);
      shown = stack.fc.logs.length;
    }, 500).unref();
    const stop = async () => {
      await stack.stop();
      process.exit(0);
    };
    process.on('SIGINT', () => void stop());
    process.on('SIGTERM', () => void stop());
  }
  return stack;
}
