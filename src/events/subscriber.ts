import type { RegistryEvent } from './event.ts';

export type PayloadFormat = 'distribution' | 'harbor' | 'cloudevents';

/**
 * Where events go: a notification endpoint of the configuration or a project's webhook policy.
 * Both are delivered the same way; they differ in what they want and how the payload looks.
 */
export interface Subscriber {
  /** `endpoint:<name>` or `webhook:<id>`: how delivery rows name it. */
  key: string;
  kind: 'endpoint' | 'webhook';
  /** The endpoint's or the policy's name, for logs. */
  name: string;
  /** The policy's row id; undefined for endpoints. */
  webhookId?: number;
  /** The policy's project (webhooks only). */
  project?: { id: number; name: string };
  url: string;
  format: PayloadFormat;
  /** Sent with every request (an endpoint's `headers`, a policy's Authorization). */
  headers: Record<string, string[]>;
  /** Key of the HMAC-SHA256 signature header; no signature without one. */
  secret?: string;
  timeoutMs: number;
  /** Accept any TLS certificate (a policy's skip_cert_verify). */
  insecure: boolean;
  /** Consecutive failures that open the circuit, and how long it stays open. */
  breaker: { threshold: number; openMs: number };
  wants(event: RegistryEvent): boolean;
}

export const endpointKey = (name: string) => `endpoint:${name}`;
export const webhookKey = (id: number) => `webhook:${id}`;
