/** An append that does not start where the staged upload ends (out-of-order or overlapping chunk). */
export class UploadOffsetError extends Error {
  constructor(readonly currentSize: number) {
    super(`upload is at offset ${currentSize}`);
    this.name = 'UploadOffsetError';
  }
}
