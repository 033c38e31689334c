import { SingleBar, Presets } from 'cli-progress';
import type { Command } from 'commander';
import { stat } from 'node:fs/promises';
import { convertRawFile } from '../convert-file';
import { EXIT, UsageError } from '../settings';

export function registerConvert(program: Command): void {
  program
    .command('convert <input> <output>')
    .description('a raw disk file to a qcow2 file (v3, 64 KiB clusters, zero clusters not stored), in one pass, with a progress bar')
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
      const layout = await convertRawFile(input, output, (bytes) => bar?.update(Math.floor(bytes / 2 ** 20)));
      bar?.stop();
      const seconds = (performance.now() - started) / 1000;
      const report = { input, output, virtualBytes: Math.ceil(size / 512) * 512, ...layout, seconds: Math.round(seconds * 100) / 100 };
      if (opts.json) console.log(JSON.stringify(report, null, 2));
      else
        console.log(
          `${output}: ${layout.totalBytes} bytes for a ${size}-byte disk (${layout.dataClusters} data clusters stored), ${report.seconds} s`,
        );
      process.exitCode = EXIT.ok;
    });
}
