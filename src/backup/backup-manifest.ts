import { open, readFile, rename } from 'node:fs/promises';
import { BackupError, backupFormatVersion, manifestPath } from './backup-layout.ts';

/** `backup.json`: what a finished backup holds, written after everything else is durable. */
export interface BackupManifest {
  version: number;
  createdAt: string;
  source: { database: 'sqlite' | 'postgres'; storage: string };
  snapshot: { file: string; digest: string; bytes: number };
  counts: {
    repositories: number;
    manifests: number;
    tags: number;
    users: number;
    projects: number;
    blobs: number;
    blobsCopied: number;
    blobsAlreadyPresent: number;
  };
  bytes: { blobs: number; copied: number };
}

export async function writeManifest(dir: string, manifest: BackupManifest): Promise<void> {
  const path = manifestPath(dir);
  const partial = `${path}.partial`;
  const file = await open(partial, 'w');
  try {
    await file.writeFile(`${JSON.stringify(manifest, null, 2)}\n`);
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(partial, path);
}

/** The manifest of a finished backup; refuses a directory that has none or a newer format. */
export async function readManifest(dir: string): Promise<BackupManifest> {
  let text: string;
  try {
    text = await readFile(manifestPath(dir), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new BackupError(
        `${dir} holds no finished backup (no backup.json): it was interrupted or is not a backup; run \`wharf backup --to ${dir}\` again`,
      );
    }
    throw error;
  }
  const manifest = JSON.parse(text) as BackupManifest;
  if (manifest.version !== backupFormatVersion) {
    throw new BackupError(
      `${dir}/backup.json has format version ${manifest.version}; this Wharf reads ${backupFormatVersion}`,
    );
  }
  return manifest;
}
