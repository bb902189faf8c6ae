import { Cron } from 'croner';
import { z } from 'zod';
import { globProblem } from '../glob.ts';
import { decorations } from '../selector.ts';

/** Harbor allows 15 rules per policy; so does Wharf. */
export const maxRetentionRules = 15;

const pattern = z
  .string()
  .min(1)
  .max(256)
  .superRefine((value, context) => {
    const problem = globProblem(value);
    if (problem) context.addIssue({ code: 'custom', message: problem });
  });

export const repositorySelectorSchema = z.strictObject({
  pattern: pattern.default('**').describe('a doublestar glob over the repository name without the project'),
  decoration: z.enum(decorations).default('matches'),
});

export const tagSelectorSchema = z.strictObject({
  pattern: pattern.default('**').describe('a doublestar glob over tag names'),
  decoration: z.enum(decorations).default('matches'),
  untagged: z.boolean().default(false).describe('whether the rule also considers artifacts without any tag'),
});

const common = {
  disabled: z.boolean().default(false),
  repositories: repositorySelectorSchema.prefault({}),
  tags: tagSelectorSchema.prefault({}),
};
const count = z.number().int().min(1).max(100_000);
const days = z.number().positive().max(36_500).describe('days; fractions allowed (0.5 is twelve hours)');

/** One rule: which artifacts it looks at (repositories, tags) and which of them it keeps. */
export const retentionRuleSchema = z.discriminatedUnion('keep', [
  z.strictObject({ keep: z.literal('latest_pushed'), count, ...common }),
  z.strictObject({ keep: z.literal('latest_pulled'), count, ...common }),
  z.strictObject({ keep: z.literal('pushed_within_days'), days, ...common }),
  z.strictObject({ keep: z.literal('pulled_within_days'), days, ...common }),
  z.strictObject({ keep: z.literal('always'), ...common }),
]);

export type RetentionRule = z.output<typeof retentionRuleSchema>;
export type RetentionRuleKind = RetentionRule['keep'];

export const retentionRulesSchema = z.array(retentionRuleSchema).max(maxRetentionRules);

/** A cron expression croner accepts (five fields, or six with seconds first), or null for no schedule. */
export const scheduleSchema = z
  .string()
  .max(100)
  .superRefine((value, context) => {
    const problem = cronProblem(value);
    if (problem) context.addIssue({ code: 'custom', message: problem });
  })
  .nullable();

export function cronProblem(expression: string): string | undefined {
  try {
    new Cron(expression, { paused: true }).stop();
    return undefined;
  } catch (error) {
    return `invalid cron expression: ${(error as Error).message}`;
  }
}

/** The rules as stored (JSON written by the API); rules that no longer parse are a stored error, not input. */
export function parseStoredRules(json: string): RetentionRule[] {
  return retentionRulesSchema.parse(JSON.parse(json));
}
