import { Counter, type Registry } from 'prom-client';
import type { DenialReason } from './signature-gate.ts';

/** `wharf_signature_policy_denials_total{project,reason}`: pulls the signature policy refused. */
export function registerSignatureMetrics(registry: Registry): (project: string, reason: DenialReason) => void {
  const denials = new Counter({
    name: 'wharf_signature_policy_denials_total',
    help: 'Manifest pulls refused because the image was not signed as the signature policy requires.',
    labelNames: ['project', 'reason'] as const,
    registers: [registry],
  });
  return (project, reason) => denials.inc({ project, reason });
}
