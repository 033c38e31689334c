import { SingleBar, Presets } from 'cli-progress';
import type { Command } from 'commander';
import { convertDisk, fileInput, fileSink, objectInput, objectSink, type ConvertInput } from '../convert-file';
import type { OssTarget } from '../../shared/adapters/oss';
import { ConvertRefusal } from '../../shared/formats/refusal';
import { EXIT, parseOssUrl, resolveCredentials, UsageError, withGlobalOptions, type GlobalOptions } from '../settings';

export function registerConvert(program: Command): void {
  withGlobalOptions(
    program
      .command('convert <input> <output>')
      .description(
        'a raw, VHD (fixed, dynamic), VHDX, VMDK (monolithicSparse, streamOptimized) or one-disk OVA to a qcow2 (v3, 64 KiB clusters, zero clusters not stored), in one pass, with a progress bar; each side a local file or oss://bucket/key (read with ranged GETs, written as a multipart upload that never replaces an object)',
      ),
  ).action(runConvert);
}

/** `oss://bucket/key` as the object's target and key, with the command's region, endpoint and credentials. */
async function objectOf(url: string, opts: GlobalOptions): Promise<{ target: OssTarget; key: string }> {
  const { bucket, key } = parseOssUrl(url);
  if (!key) throw new UsageError(`${url} names no object`);
  const credentials = await resolveCredentials();
  return { target: { region: opts.region, bucket, endpoint: opts.ossEndpoint, internal: opts.internal, credentials }, key };
}

async function runConvert(input: string, output: string, opts: GlobalOptions): Promise<void> {
  if (output.startsWith('oss://') && !/\.qcow2$/.test(output))
    throw new UsageError('an OSS output must end in .qcow2 (the suffix the import trigger watches)');
  const from = input.startsWith('oss://') ? await objectOf(input, opts) : undefined;
  const source: ConvertInput = from ? await objectInput(from.target, from.key) : await fileInput(input);
  const to = output.startsWith('oss://') ? await objectOf(output, opts) : undefined;
  const sink = to ? await objectSink(to.target, to.key, source) : await fileSink(output);
  const totalMiB = Math.ceil(source.src.size / 2 ** 20);
  const bar =
    process.stderr.isTTY && !opts.json
      ? new SingleBar({ format: 'convert [{bar}] {percentage}% {value}/{total} MiB', hideCursor: true }, Presets.shades_classic)
      : undefined;
  bar?.start(totalMiB, 0);
  const started = performance.now();
  let layout: Awaited<ReturnType<typeof convertDisk>>;
  try {
    layout = await convertDisk(source, sink, (bytes) => bar?.update(Math.min(Math.floor(bytes / 2 ** 20), totalMiB)));
  } catch (err) {
    bar?.stop();
    if (!(err instanceof ConvertRefusal)) throw err;
    if (opts.json) console.log(JSON.stringify({ input, refused: err.code, reason: err.message }, null, 2));
    else console.error(`refused (${err.code}): ${err.message}`);
    process.exitCode = EXIT.refused;
    return;
  } finally {
    await source.close();
  }
  bar?.stop();
  const report = { input, output, ...layout, seconds: Math.round((performance.now() - started) / 10) / 100 };
  if (opts.json) console.log(JSON.stringify(report, null, 2));
  else
    console.log(
      `${output}: ${layout.totalBytes} bytes for a ${layout.virtualBytes}-byte ${layout.format} disk (${layout.dataClusters} data clusters stored), ${report.seconds} s`,
    );
  process.exitCode = EXIT.ok;
}
