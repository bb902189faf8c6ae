import { Counter, Gauge, type Registry } from 'prom-client';
import type { Direction, ExecutionStatus, ExecutionTrigger, TaskOperation, TaskStatus } from './replication-model.ts';

/** What replication counts, for /metrics. */
export interface ReplicationMetrics {
  executionStarted(): void;
  executionEnded(trigger: ExecutionTrigger, status: ExecutionStatus): void;
  taskEnded(operation: TaskOperation, status: TaskStatus): void;
  bytesTransferred(direction: Direction, bytes: number): void;
}

/**
 * `wharf_replication_executions_total{trigger,status}`, `wharf_replication_executions_running`,
 * `wharf_replication_tasks_total{operation,status}` and `wharf_replication_bytes_total{direction}`
 * on the registry's metrics registry.
 */
export function registerReplicationMetrics(registry: Registry): ReplicationMetrics {
  const registers = [registry];
  const executions = new Counter({
    name: 'wharf_replication_executions_total',
    help: 'Replication executions that ended on this instance, by trigger and final status.',
    labelNames: ['trigger', 'status'] as const,
    registers,
  });
  const running = new Gauge({
    name: 'wharf_replication_executions_running',
    help: 'Replication executions running on this instance now.',
    registers,
  });
  const tasks = new Counter({
    name: 'wharf_replication_tasks_total',
    help: 'Replication tasks (one per artifact) that ended on this instance, by operation and status.',
    labelNames: ['operation', 'status'] as const,
    registers,
  });
  const bytes = new Counter({
    name: 'wharf_replication_bytes_total',
    help: 'Bytes replication read from the source (manifests and blobs), by direction (push or pull).',
    labelNames: ['direction'] as const,
    registers,
  });
  return {
    executionStarted: () => running.inc(),
    executionEnded(trigger, status) {
      running.dec();
      executions.inc({ trigger, status });
    },
    taskEnded: (operation, status) => tasks.inc({ operation, status }),
    bytesTransferred: (direction, count) => bytes.inc({ direction }, count),
  };
}

export const unmeasuredReplication: ReplicationMetrics = {
  executionStarted: () => {},
  executionEnded: () => {},
  taskEnded: () => {},
  bytesTransferred: () => {},
};
