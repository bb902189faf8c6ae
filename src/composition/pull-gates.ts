import type { ManifestRecord } from '../metadata/metadata-store.ts';
import type { PullReader } from '../policy/signatures/signature-gate.ts';
import type { PullGate } from '../registry/registry-service.ts';

/** Several pull gates asked in order; the first refusal wins. */
export function allPullGates(gates: ReadonlyArray<PullGate | undefined>): PullGate {
  const present = gates.filter((gate) => gate !== undefined);
  return {
    async check(repository: string, reference: string, manifest: ManifestRecord, reader: PullReader) {
      for (const gate of present) await gate.check(repository, reference, manifest, reader);
    },
  };
}
