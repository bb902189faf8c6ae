/** Why a replication request was refused, for the API to turn into its status codes. */
export type ReplicationErrorKind = 'invalid' | 'not-found' | 'conflict' | 'precondition';

export class ReplicationError extends Error {
  constructor(
    readonly kind: ReplicationErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'ReplicationError';
  }
}

export function isReplicationError(error: unknown): error is ReplicationError {
  return error instanceof ReplicationError;
}
