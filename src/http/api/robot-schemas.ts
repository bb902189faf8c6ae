import { z } from 'zod';
import { projectNameGrammar } from '../../auth/projects/project-name.ts';
import type { RobotAccount } from '../../auth/projects/robot-directory.ts';
import { timestamp, timestampSchema } from './common-schemas.ts';
import { projectNameSchema } from './project-schemas.ts';

const robotShortNameSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(projectNameGrammar, {
    message: 'a robot name is lower-case letters and digits, separated by ".", "_", "__" or "-"',
  })
  .meta({ example: 'ci' });

export const robotActionSchema = z.enum(['pull', 'push', 'delete']);
const actionsSchema = z.array(robotActionSchema).min(1);

const descriptionSchema = z.string().max(1024);

/** Harbor's robot lifetime: days from now, -1 for never. */
const durationSchema = z
  .number()
  .int()
  .min(-1)
  .max(36_500)
  .refine((days) => days !== 0, { message: 'a duration is a number of days, or -1 for never' })
  .describe('days until the robot expires, -1 for never');

const permissionSchema = z.strictObject({
  project: z.union([projectNameSchema, z.literal('*')]).describe('a project, or "*" for every project'),
  actions: actionsSchema,
});

export const projectRobotPathSchema = z.object({ name: projectNameSchema, robot: robotShortNameSchema });
export const systemRobotPathSchema = z.object({ robot: robotShortNameSchema });

export const newProjectRobotSchema = z.strictObject({
  name: robotShortNameSchema,
  description: descriptionSchema.default(''),
  duration: durationSchema.default(30),
  actions: actionsSchema.describe('what the robot may do to the repositories of the project'),
});

export const projectRobotChangesSchema = z.strictObject({
  description: descriptionSchema.optional(),
  disabled: z.boolean().optional(),
  duration: durationSchema.optional().describe('a new lifetime, counted from now'),
  actions: actionsSchema.optional(),
});

export const newSystemRobotSchema = z.strictObject({
  name: robotShortNameSchema,
  description: descriptionSchema.default(''),
  duration: durationSchema.default(30),
  permissions: z.array(permissionSchema).min(1),
});

export const systemRobotChangesSchema = z.strictObject({
  description: descriptionSchema.optional(),
  disabled: z.boolean().optional(),
  duration: durationSchema.optional().describe('a new lifetime, counted from now'),
  permissions: z.array(permissionSchema).min(1).optional(),
});

export const robotSchema = z.object({
  id: z.number().int(),
  name: z.string().meta({ example: 'robot$team+ci' }),
  project: z.string().nullable(),
  description: z.string(),
  permissions: z.array(z.object({ project: z.string(), actions: z.array(z.string()) })),
  disabled: z.boolean(),
  created_at: timestampSchema,
  created_by: z.string(),
  expires_at: timestampSchema.nullable(),
});

export const robotWithSecretSchema = robotSchema.extend({
  secret: z.string().describe('shown this once; only a hash is kept'),
});

export const robotSecretSchema = z.object({
  name: z.string(),
  secret: z.string().describe('shown this once; only a hash is kept'),
});

export function robotBody(robot: RobotAccount): z.output<typeof robotSchema> {
  return {
    id: robot.id,
    name: robot.name,
    project: robot.project,
    description: robot.description,
    permissions: robot.permissions.map((permission) => ({
      project: permission.project,
      actions: [...permission.actions],
    })),
    disabled: robot.disabled,
    created_at: timestamp(robot.createdAt),
    created_by: robot.createdBy,
    expires_at: robot.expiresAt === null ? null : timestamp(robot.expiresAt),
  };
}

/** The expiry a duration in days gives, from now. */
export function expiryOf(days: number, now: number = Date.now()): number | null {
  return days === -1 ? null : now + days * 86_400_000;
}
