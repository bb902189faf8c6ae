import { type Digest, digestAlgorithm, digestHex, isDigest } from '../../oci/digest.ts';
import { isUploadId, StorageNotFoundError } from '../driver.ts';

/** Digits of a staged object's number: S3 allows 10,000 parts, so five keep listings in order. */
const numberWidth = 5;

/** What a key under an upload's prefix is. */
export type StagedKey =
  | { kind: 'state' }
  | { kind: 'part'; number: number }
  | { kind: 'tail'; afterParts: number }
  | { kind: 'other' };

/**
 * Where everything lives in the bucket, below `rootdirectory`:
 * blobs at `blobs/<algorithm>/<first two hex>/<hex>` (the filesystem driver's layout), uploads under
 * `uploads/<id>/`: `state` (created when the upload starts), `part.00001`, `part.00002`, ... (each
 * exactly one chunk) and `tail.<n>` (the bytes after part n, shorter than a chunk).
 */
export class S3KeyLayout {
  /** '' or `<rootdirectory>/`. */
  readonly root: string;

  constructor(rootDirectory: string) {
    const trimmed = rootDirectory.replace(/^\/+|\/+$/g, '');
    this.root = trimmed === '' ? '' : `${trimmed}/`;
  }

  get blobsPrefix(): string {
    return `${this.root}blobs/`;
  }

  get uploadsPrefix(): string {
    return `${this.root}uploads/`;
  }

  blob(digest: Digest): string {
    const hex = digestHex(digest);
    return `${this.blobsPrefix}${digestAlgorithm(digest)}/${hex.slice(0, 2)}/${hex}`;
  }

  /** The digest a blob key stands for, or undefined for anything else. */
  digestOf(key: string): Digest | undefined {
    if (!key.startsWith(this.blobsPrefix)) return undefined;
    const [algorithm, prefix, hex, ...rest] = key.slice(this.blobsPrefix.length).split('/');
    if (algorithm === undefined || prefix === undefined || hex === undefined || rest.length > 0) return undefined;
    const candidate = `${algorithm}:${hex}`;
    return isDigest(candidate) && hex.startsWith(prefix) && prefix.length === 2 ? (candidate as Digest) : undefined;
  }

  upload(id: string): string {
    // Ids are validated before they reach the driver; this keeps a bad one out of the key space regardless.
    if (!isUploadId(id)) throw new StorageNotFoundError(`upload ${id.slice(0, 64)}`);
    return `${this.uploadsPrefix}${id}/`;
  }

  /** The upload id of an `uploads/<id>/` prefix, or undefined. */
  uploadIdOf(prefix: string): string | undefined {
    if (!prefix.startsWith(this.uploadsPrefix) || !prefix.endsWith('/')) return undefined;
    const id = prefix.slice(this.uploadsPrefix.length, -1);
    return isUploadId(id) ? id : undefined;
  }

  state(id: string): string {
    return `${this.upload(id)}state`;
  }

  part(id: string, number: number): string {
    return `${this.upload(id)}part.${String(number).padStart(numberWidth, '0')}`;
  }

  tail(id: string, afterParts: number): string {
    return `${this.upload(id)}tail.${String(afterParts).padStart(numberWidth, '0')}`;
  }

  /** What `key`, found under the upload's prefix, is. */
  stagedKind(id: string, key: string): StagedKey {
    const name = key.slice(this.upload(id).length);
    if (name === 'state') return { kind: 'state' };
    const numbered = /^(part|tail)\.(\d{5})$/.exec(name);
    if (!numbered) return { kind: 'other' };
    const number = Number(numbered[2]);
    return numbered[1] === 'part' ? { kind: 'part', number } : { kind: 'tail', afterParts: number };
  }
}
