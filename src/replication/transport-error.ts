/**
 * Why a transport could not do what was asked, apart from a registry's own answers (those are
 * RegistryClientError): a name a layout or archive does not hold, a file that is not an OCI
 * layout or tar, a reference that cannot be parsed.
 */
export type TransportErrorKind = 'not-found' | 'invalid' | 'usage';

export class TransportError extends Error {
  constructor(
    readonly kind: TransportErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TransportError';
  }
}
