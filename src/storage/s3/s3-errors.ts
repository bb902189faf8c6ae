/** Error names S3 gives a missing object: NoSuchKey on GET, NotFound on HEAD (which has no body). */
const missingNames = new Set(['NoSuchKey', 'NotFound', 'NoSuchUpload']);

interface ServiceErrorShape {
  name?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

/**
 * Whether the SDK error says the object asked for does not exist. A missing bucket is not a
 * missing blob: it stays an error, so readiness fails instead of every blob reading as unknown.
 */
export function isMissing(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { name, $metadata } = error as ServiceErrorShape;
  if (name === 'NoSuchBucket') return false;
  if (typeof name === 'string' && missingNames.has(name)) return true;
  return $metadata?.httpStatusCode === 404;
}

/** Why a request to the store failed, in terms of the configuration to check. */
export function describeFailure(error: unknown): string {
  const { name, $metadata } = (typeof error === 'object' && error !== null ? error : {}) as ServiceErrorShape;
  const status = $metadata?.httpStatusCode;
  if (status === 403) return 'access denied (403): check storage.s3.accesskey, secretkey and the IAM policy';
  if (status === 301) return 'the bucket is in another region (301): check storage.s3.region';
  if (typeof status === 'number') return `the store answered ${status}${typeof name === 'string' ? ` (${name})` : ''}`;
  return error instanceof Error ? error.message : String(error);
}
