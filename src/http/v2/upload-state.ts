import { hkdfSync, randomBytes } from 'node:crypto';
import { RegistryError } from '../../oci/errors.ts';
import { openSealedValue, sealValue } from '../signed-value.ts';

/** The query parameter of an upload's Location that carries its signed state, as in Distribution. */
export const uploadStateParameter = '_state';

/** What an upload's Location vouches for; the session row and the staged bytes stay the truth. */
export interface UploadState {
  /** The repository the upload belongs to. */
  name: string;
  /** The upload session's id. */
  id: string;
  /** Bytes staged when the Location was issued. */
  offset: number;
  /** Epoch milliseconds of the POST that started the upload. */
  startedAt: number;
}

/**
 * Signs and checks the `_state` token of upload Locations: `base64url(JSON).base64url(HMAC-SHA256)`.
 * Every instance sharing `http.secret` derives the same key, so a Location issued by one instance is
 * accepted by all; the key is derived (HKDF) so it reveals nothing of the secret or other keys
 * derived from it.
 */
export class UploadStateSigner {
  private readonly key: Buffer;

  constructor(secret: string) {
    this.key = Buffer.from(hkdfSync('sha256', secret, 'wharf', 'upload state', 32));
  }

  sign(state: UploadState): string {
    const { name, id, offset, startedAt } = state;
    return sealValue({ name, id, offset, startedAt }, this.key);
  }

  /** The state the token carries, or undefined when it is malformed or its signature is wrong. */
  open(token: string): UploadState | undefined {
    const payload = openSealedValue(token, this.key);
    if (!isUploadState(payload)) return undefined;
    const { name, id, offset, startedAt } = payload;
    return { name, id, offset, startedAt };
  }

  /**
   * Checks the `_state` of a request on upload `id` of repository `name`. A request without one is
   * accepted: the session row decides, as it does for the token's offset, which is stale whenever a
   * response was lost and the client resumes from an older Location. A token that is forged,
   * altered, or issued for another upload is refused as Distribution refuses it: 404
   * BLOB_UPLOAD_INVALID. One for this upload in another repository proves the upload is not this
   * repository's: 404 BLOB_UPLOAD_UNKNOWN, what the session row would say.
   */
  verify(query: URLSearchParams, name: string, id: string): UploadState | undefined {
    const tokens = query.getAll(uploadStateParameter);
    if (tokens.length === 0) return undefined;
    const state = tokens.length === 1 ? this.open(tokens[0] ?? '') : undefined;
    if (!state) throw invalidState('the upload state is not one this registry issued');
    if (state.id !== id) throw invalidState('the upload state belongs to another upload');
    if (state.name !== name) {
      throw new RegistryError('BLOB_UPLOAD_UNKNOWN', `upload ${id.slice(0, 64)} is unknown`);
    }
    return state;
  }
}

/** A secret of this process's own, for a server built without one. */
export function randomHttpSecret(): string {
  return randomBytes(32).toString('base64url');
}

function invalidState(message: string): RegistryError {
  return new RegistryError('BLOB_UPLOAD_INVALID', message, { status: 404 });
}

function isUploadState(value: unknown): value is UploadState {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return (
    typeof record.name === 'string' &&
    typeof record.id === 'string' &&
    Number.isSafeInteger(record.offset) &&
    Number.isSafeInteger(record.startedAt)
  );
}
