import type { GcConfig, GcEventKind } from '../config/config.ts';

/** What the change listener needs to queue reviews: a delay per kind of event, and whether untagged manifests are collected. */
export interface ReviewSettings {
  delays: Record<GcEventKind, number>;
  deleteUntagged: boolean;
}

const eventKinds: readonly GcEventKind[] = [
  'blobupload',
  'blobdelete',
  'manifestdelete',
  'manifestuntag',
  'manifestupload',
  'repositorydelete',
];

/** gc.reviewafter for every kind of event, unless gc.eventreviewafter names its own delay. */
export function reviewSettingsOf(config: GcConfig): ReviewSettings {
  const delays = Object.fromEntries(
    eventKinds.map((kind) => [kind, config.eventreviewafter[kind] ?? config.reviewafter]),
  ) as Record<GcEventKind, number>;
  return { delays, deleteUntagged: config.deleteuntagged };
}
