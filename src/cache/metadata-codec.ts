import type { ManifestRecord, ManifestWithPayload } from '../metadata/metadata-store.ts';

/**
 * How cached metadata is written: a blob size as decimal text; a manifest as its record in JSON, a
 * newline (JSON.stringify escapes any inside strings) and the payload bytes exactly. Anything that
 * does not decode is treated as a miss.
 */

export function encodeSize(size: number): Buffer {
  return Buffer.from(String(size));
}

export function decodeSize(bytes: Buffer): number | undefined {
  const text = bytes.toString('latin1');
  return /^\d{1,15}$/.test(text) ? Number(text) : undefined;
}

export function encodeManifest(manifest: ManifestWithPayload): Buffer {
  const record: ManifestRecord = recordOf(manifest);
  return Buffer.concat([Buffer.from(`${JSON.stringify(record)}\n`), manifest.payload]);
}

export function decodeManifest(bytes: Buffer): ManifestWithPayload | undefined {
  const newline = bytes.indexOf(0x0a);
  if (newline < 0) return undefined;
  let record: unknown;
  try {
    record = JSON.parse(bytes.subarray(0, newline).toString('utf8'));
  } catch {
    return undefined;
  }
  if (!isManifestRecord(record)) return undefined;
  const payload = Buffer.from(bytes.subarray(newline + 1));
  return payload.length === record.size ? { ...recordOf(record), payload } : undefined;
}

/** The record alone, as the store's find methods return it. */
export function recordOf(manifest: ManifestRecord): ManifestRecord {
  return {
    digest: manifest.digest,
    mediaType: manifest.mediaType,
    artifactType: manifest.artifactType,
    size: manifest.size,
    subjectDigest: manifest.subjectDigest,
    annotations: manifest.annotations,
  };
}

function isManifestRecord(value: unknown): value is ManifestRecord {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  const textOrNull = (field: string) => typeof record[field] === 'string' || record[field] === null;
  return (
    typeof record.digest === 'string' &&
    typeof record.mediaType === 'string' &&
    Number.isSafeInteger(record.size) &&
    textOrNull('artifactType') &&
    textOrNull('subjectDigest') &&
    textOrNull('annotations')
  );
}
