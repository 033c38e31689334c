import { SingleBar, Presets } from 'cli-progress';
import type { Command } from 'commander';
import { stat } from 'node:fs/promises';
import { convertFile } from '../convert-file';
import { ConvertRefusal } from '../../shared/convert/refusal';
import { EXIT, UsageError } from '../settings';

export function registerConvert(program: Command): void {
  program
    .command('convert <input> <output>')
    .description(
      'a raw, VHD (fixed, dynamic), VHDX or VMDK (monolithicSparse, streamOptimized) disk file to a qcow2 file (v3, 64 KiB clusters, zero clusters not stored), in one pass, with a progress bar',
    )
    .option('--json', 'machine-readable JSON on stdout')
    .action(async (input: string, output: string, opts: { json?: boolean }) => {
      if (input.startsWith('oss://') || output.startsWith('oss://')) throw new UsageError('convert takes local files for now');
      const size = (await stat(input)).size;
      const bar =
        process.stderr.isTTY && !opts.json
          ? new SingleBar({ format: 'convert [{bar}] {percentage}% {value}/{total} MiB', hideCursor: true }, Presets.shades_classic)
          : undefined;
      bar?.start(Math.ceil(size / 2 ** 20), 0);
      const started = performance.now();
      let layout: Awaited<ReturnType<typeof convertFile>>;
      try {
        layout = await convertFile(input, output, (bytes) => bar?.update(Math.floor(bytes / 2 ** 20)));
      } catch (err) {
        bar?.stop();
        if (!(err instanceof ConvertRefusal)) throw err;
        if (opts.json) console.log(JSON.stringify({ input, refused: err.code, reason: err.message }, null, 2));
        else console.error(`refused (${err.code}): ${err.message}`);
        process.exitCode = EXIT.refused;
        return;
      }
      bar?.stop();
      const seconds = (performance.now() - started) / 1000;
      const report = { input, output, ...layout, seconds: Math.round(seconds * 100) / 100 };
      if (opts.json) console.log(JSON.stringify(report, null, 2));
      else
        console.log(
          `${output}: ${layout.totalBytes} bytes for a ${layout.virtualBytes}-byte ${layout.format} disk (${layout.dataClusters} data clusters stored), ${report.seconds} s`,
        );
      process.exitCode = EXIT.ok;
    });
}
