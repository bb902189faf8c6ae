import { covers, type ResourceAccess } from '../../auth/access.ts';
import type { PullReader } from '../../policy/signatures/signature-gate.ts';
import type { HandlerContext } from './context.ts';

/** The signing tools, as their User-Agent names them (cosign's go-containerregistry client, notation-go). */
const signingTools = /\b(cosign|notation)\b/i;

/**
 * A distribution API client reading a manifest. It counts as a signer, whom the signature gate lets
 * read an unsigned image, when its User-Agent names cosign or notation and it may push to the
 * repository (as Harbor decides): signing reads the manifest before any signature exists.
 */
export function pullReaderOf(context: HandlerContext, repository: string): PullReader {
  return {
    async isSigner() {
      if (!signingTools.test(context.request.headers['user-agent'] ?? '')) return false;
      const auth = context.access.auth;
      if (!auth.enabled) return true;
      const push: ResourceAccess = { type: 'repository', name: repository, actions: ['push'] };
      return covers(await auth.authorizer.grant(context.principal, [push]), push);
    },
  };
}
