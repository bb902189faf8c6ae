import { z } from 'zod';
import { type MemberRecord, memberKinds } from '../../metadata/project-store.ts';
import { timestamp, timestampSchema } from './common-schemas.ts';
import { projectNameSchema, roleSchema } from './project-schemas.ts';

// Group names come from LDAP or OIDC as they are (a DN, a path): anything printable, bounded.
const memberNameSchema = z
  .string()
  .min(1)
  .max(255)
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this refuses
  .regex(/^[^\u0000-\u001f\u007f]+$/, { message: 'a member name has no control characters' });

export const memberPathSchema = z.object({ name: projectNameSchema, id: z.coerce.number().int().min(1) });

export const newMemberSchema = z
  .strictObject({
    member_kind: z.enum(memberKinds),
    member_name: memberNameSchema,
    role: roleSchema,
  })
  .refine((member) => (member.member_kind === 'robot') === member.member_name.startsWith('robot$'), {
    message: 'robot members, and only they, have names starting with "robot$"',
    path: ['member_name'],
  });

export const memberChangesSchema = z.strictObject({ role: roleSchema });

export const memberSchema = z.object({
  id: z.number().int(),
  member_kind: z.enum(memberKinds),
  member_name: z.string(),
  role: roleSchema,
  created_at: timestampSchema,
});

export function memberBody(member: MemberRecord): z.output<typeof memberSchema> {
  return {
    id: member.id,
    member_kind: member.kind,
    member_name: member.name,
    role: member.role,
    created_at: timestamp(member.createdAt),
  };
}
