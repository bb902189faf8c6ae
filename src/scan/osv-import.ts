import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type AdvisoryRange, OsvFormatError, rangesOfOsvRecord } from './osv-record.ts';
import type { VulnerabilityDb } from './vulnerability-db.ts';

export interface ImportSummary {
  files: number;
  advisories: number;
  ranges: number;
  /** Records without an ECOSYSTEM range (withdrawn, or only GIT/SEMVER ranges). */
  withoutRanges: number;
  /** Files that are not OSV JSON: path and why. */
  rejected: Array<{ path: string; reason: string }>;
  version: string;
}

export interface ImportProgress {
  total: number;
  done: number;
}

/** Advisories written per transaction. */
const batchSize = 1_000;

/**
 * Imports OSV records from a JSON file (one record or an array of them) or a directory of them
 * (as unzipped from osv.dev's per-ecosystem `all.zip`), searched recursively, then publishes a
 * new database version. A file that is not OSV JSON is reported and skipped, not fatal.
 */
export async function importOsv(
  db: VulnerabilityDb,
  source: string,
  onProgress: (progress: ImportProgress) => void = () => {},
): Promise<ImportSummary> {
  const files = (await stat(source)).isDirectory() ? await jsonFilesUnder(source) : [source];
  const summary: Omit<ImportSummary, 'version'> = {
    files: 0,
    advisories: 0,
    ranges: 0,
    withoutRanges: 0,
    rejected: [],
  };
  let batch: Array<{ id: string; ranges: AdvisoryRange[] }> = [];
  const flush = async () => {
    await db.replaceAdvisories(batch);
    batch = [];
  };
  for (const path of files) {
    summary.files++;
    let records: unknown[];
    try {
      const parsed: unknown = JSON.parse(await readFile(path, 'utf8'));
      records = Array.isArray(parsed) ? parsed : [parsed];
    } catch (error) {
      summary.rejected.push({ path, reason: (error as Error).message });
      onProgress({ total: files.length, done: summary.files });
      continue;
    }
    for (const record of records) {
      try {
        const advisory = rangesOfOsvRecord(record);
        summary.advisories++;
        summary.ranges += advisory.ranges.length;
        if (advisory.ranges.length === 0) summary.withoutRanges++;
        batch.push(advisory);
      } catch (error) {
        if (!(error instanceof OsvFormatError)) throw error;
        summary.rejected.push({ path, reason: error.message });
      }
    }
    if (batch.length >= batchSize) await flush();
    onProgress({ total: files.length, done: summary.files });
  }
  await flush();
  const version = await db.publish();
  return { ...summary, version };
}

async function jsonFilesUnder(directory: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) found.push(...(await jsonFilesUnder(path)));
    else if (entry.isFile() && entry.name.endsWith('.json')) found.push(path);
  }
  return found.sort();
}
