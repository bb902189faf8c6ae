import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

const projectRoot = resolve(import.meta.dirname, '..', '..');
export const dockerfilePath = join(projectRoot, 'deploy', 'docker', 'Dockerfile');

/** One instruction, continuation lines joined, with the line it starts on (for messages). */
export interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

export interface Stage {
  /** The image after FROM, with global ARG defaults substituted. */
  from: string;
  name: string | undefined;
  instructions: Instruction[];
}

export interface Dockerfile {
  /** Defaults of the ARGs declared before the first FROM. */
  globalArgs: Map<string, string>;
  stages: Stage[];
}

/** A COPY or ADD: `--flag=value` options, sources, destination. */
export interface Copy {
  from: string | undefined;
  sources: string[];
  destination: string;
  line: number;
}

/**
 * Parses the Dockerfile syntax this repository uses: comments, `\` continuations, parser
 * directives, global ARGs in FROM. Not a full implementation (no heredocs, no escape directive).
 */
export function parseDockerfile(text: string): Dockerfile {
  const instructions: Instruction[] = [];
  let pending: { text: string; line: number } | undefined;
  text.split('\n').forEach((raw, index) => {
    const trimmed = raw.trim();
    if (pending === undefined && (trimmed === '' || trimmed.startsWith('#'))) return;
    if (pending !== undefined && trimmed.startsWith('#')) return; // comments inside a continuation
    const continued = trimmed.endsWith('\\');
    const body = continued ? trimmed.slice(0, -1) : trimmed;
    pending = pending === undefined ? { text: body, line: index + 1 } : { ...pending, text: `${pending.text} ${body}` };
    if (continued) return;
    const match = /^(\S+)\s*(.*)$/s.exec(pending.text);
    if (match?.[1] !== undefined) {
      instructions.push({ keyword: match[1].toUpperCase(), args: (match[2] ?? '').trim(), line: pending.line });
    }
    pending = undefined;
  });

  const globalArgs = new Map<string, string>();
  const stages: Stage[] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') {
      const [image = '', as, name] = instruction.args.split(/\s+/);
      const from = image.replace(/\$\{(\w+)\}|\$(\w+)/g, (_m, a?: string, b?: string) => {
        const value = globalArgs.get(a ?? b ?? '');
        if (value === undefined) throw new Error(`Dockerfile:${instruction.line}: ARG ${a ?? b} has no default`);
        return value;
      });
      stages.push({ from, name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] });
    } else if (stages.length === 0) {
      if (instruction.keyword !== 'ARG')
        throw new Error(`Dockerfile:${instruction.line}: ${instruction.keyword} before FROM`);
      const [name = '', value = ''] = instruction.args.split('=', 2);
      globalArgs.set(name, value.replace(/^"(.*)"$/, '$1'));
    } else {
      stages[stages.length - 1]?.instructions.push(instruction);
    }
  }
  return { globalArgs, stages };
}

export async function readDockerfile(): Promise<Dockerfile> {
  return parseDockerfile(await readFile(dockerfilePath, 'utf8'));
}

/** The arguments of an exec-form instruction (`["node", "x"]`); throws on the shell form. */
export function execForm(instruction: Instruction, json = instruction.args): string[] {
  if (!json.startsWith('['))
    throw new Error(`Dockerfile:${instruction.line}: ${instruction.keyword} is not in exec form`);
  const parsed: unknown = JSON.parse(json);
  if (!Array.isArray(parsed) || !parsed.every((item) => typeof item === 'string')) {
    throw new Error(`Dockerfile:${instruction.line}: ${instruction.keyword} is not a list of strings`);
  }
  return parsed;
}

/** HEALTHCHECK's `--option=value` flags and its exec-form command. */
export function parseHealthcheck(instruction: Instruction): { options: Map<string, string>; command: string[] } {
  const match = /^((?:--[a-z-]+=\S+\s+)*)CMD\s+(.*)$/s.exec(instruction.args);
  if (!match) throw new Error(`Dockerfile:${instruction.line}: HEALTHCHECK without CMD`);
  const options = new Map<string, string>();
  for (const option of (match[1] ?? '').trim().split(/\s+/).filter(Boolean)) {
    const [name = '', value = ''] = option.slice(2).split('=', 2);
    options.set(name, value);
  }
  return { options, command: execForm(instruction, match[2] ?? '') };
}

export function instructionsOf(stage: Stage, keyword: string): Instruction[] {
  return stage.instructions.filter((instruction) => instruction.keyword === keyword);
}

/** The single instruction of a kind in a stage; throws when there is none or several. */
export function onlyInstruction(stage: Stage, keyword: string): Instruction {
  const found = instructionsOf(stage, keyword);
  const [first] = found;
  if (first === undefined || found.length > 1) {
    throw new Error(`expected one ${keyword} in the stage FROM ${stage.from}, found ${found.length}`);
  }
  return first;
}

export function parseCopy(instruction: Instruction): Copy {
  const words = instruction.args.startsWith('[') ? execForm(instruction) : instruction.args.split(/\s+/);
  const options = words.filter((word) => word.startsWith('--'));
  const paths = words.filter((word) => !word.startsWith('--'));
  const destination = paths.pop();
  if (destination === undefined || paths.length === 0) {
    throw new Error(`Dockerfile:${instruction.line}: COPY needs a source and a destination`);
  }
  const from = options.find((option) => option.startsWith('--from='))?.slice('--from='.length);
  return { from, sources: paths, destination, line: instruction.line };
}
