import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

const version = 'v1';

/**
 * Encrypts the credentials of remote registries at rest with AES-256-GCM, under a key derived
 * (HKDF-SHA256) from `http.secret`: a copy of the database alone does not reveal them. Instances
 * sharing the database must share `http.secret`, as they already must for upload URLs; a value
 * sealed under another secret fails to open with a message that says so.
 */
export class SecretBox {
  private readonly key: Buffer;

  constructor(secret: string) {
    this.key = Buffer.from(hkdfSync('sha256', secret, 'wharf', 'replication registry credentials', 32));
  }

  seal(plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return `${version}:${Buffer.concat([iv, cipher.getAuthTag(), ciphertext]).toString('base64')}`;
  }

  open(sealed: string): string {
    const [prefix, encoded] = sealed.split(':', 2);
    if (prefix !== version || encoded === undefined) throw new SecretUnreadableError('unknown format');
    const bytes = Buffer.from(encoded, 'base64');
    if (bytes.length < 28) throw new SecretUnreadableError('truncated');
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, bytes.subarray(0, 12));
      decipher.setAuthTag(bytes.subarray(12, 28));
      return Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretUnreadableError('it was sealed under another http.secret');
    }
  }
}

export class SecretUnreadableError extends Error {
  constructor(reason: string) {
    super(`the stored registry credential cannot be decrypted (${reason}); set the credential again`);
    this.name = 'SecretUnreadableError';
  }
}
