import { MiB } from './scenario.ts';

/** Sizes, counts and durations of one benchmark run. */
export interface BenchSettings {
  rounds: number;
  smallBlob: number;
  largeBlob: number;
  hugeBlob: number;
  chunkSize: number;
  /** How many blobs one timed round pushes or pulls, by size and concurrency. */
  blobsPerRound: { small: { 1: number; 8: number }; large: { 1: number; 8: number } };
  /** Length of one timed round of request-rate scenarios. */
  loadMs: number;
  manifestConcurrency: number;
  tagCount: number;
  tagsConcurrency: number;
  /** The replication scenario: images, each with its own layer and one of two shared base layers. */
  replicate: { images: number; uniqueLayer: number; sharedLayer: number };
}

export const fullSettings: BenchSettings = {
  rounds: 5,
  smallBlob: MiB,
  largeBlob: 256 * MiB,
  hugeBlob: 2048 * MiB,
  chunkSize: 16 * MiB,
  blobsPerRound: { small: { 1: 128, 8: 256 }, large: { 1: 2, 8: 8 } },
  loadMs: 5000,
  manifestConcurrency: 32,
  tagCount: 1000,
  tagsConcurrency: 8,
  replicate: { images: 20, uniqueLayer: 10 * MiB, sharedLayer: 16 * MiB },
};

export const quickSettings: BenchSettings = {
  ...fullSettings,
  rounds: 2,
  largeBlob: 32 * MiB,
  hugeBlob: 256 * MiB,
  chunkSize: 4 * MiB,
  blobsPerRound: { small: { 1: 32, 8: 64 }, large: { 1: 2, 8: 8 } },
  loadMs: 1500,
  replicate: { images: 20, uniqueLayer: 2 * MiB, sharedLayer: 4 * MiB },
};
