import cliProgress from 'cli-progress';
import { formatBytes } from './transfer-progress.ts';

/**
 * One bar over the bytes of a run (backup, restore, verify) on standard error when it is a
 * terminal; nothing otherwise, where the summary lines say it all.
 */
export class ByteProgress {
  private bar: cliProgress.SingleBar | undefined;
  private done = 0;

  constructor(
    private readonly label: string,
    private readonly output: NodeJS.WriteStream = process.stderr,
  ) {}

  start(blobs: number, bytes: number): void {
    if (!this.output.isTTY) return;
    this.bar?.stop();
    this.done = 0;
    this.bar = new cliProgress.SingleBar(
      {
        stream: this.output,
        format: ` ${this.label} |{bar}| {percentage}% {doneText}/{totalText} (${blobs} blobs)`,
        barsize: 30,
        hideCursor: true,
        clearOnComplete: true,
        fps: 8,
      },
      cliProgress.Presets.shades_classic,
    );
    this.bar.start(Math.max(bytes, 1), 0, { doneText: formatBytes(0), totalText: formatBytes(bytes) });
  }

  advance(bytes: number): void {
    this.done += bytes;
    this.bar?.update(this.done, { doneText: formatBytes(this.done) });
  }

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}
