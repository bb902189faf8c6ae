import { Command } from 'commander';
import { isIdentityError } from '../auth/identities/identity-error.ts';
import { type LocalUser, LocalUsers, validatePassword } from '../auth/identities/local-users.ts';
import { randomSecret } from '../auth/identities/passwords.ts';
import { validateUsername } from '../auth/identities/usernames.ts';
import { IdentityStore } from '../metadata/identity-store.ts';
import { openDatabase } from '../metadata/open-database.ts';
import { loadConfigOrExit } from './load-config-or-exit.ts';

interface PasswordOptions {
  passwordStdin?: boolean;
  generate?: boolean;
}

/**
 * `wharf user`: local users, straight in the metadata database that `wharf serve` uses (found from
 * the same config file and REGISTRY_* variables), so it works with the registry stopped or running.
 */
export function userCommand(): Command {
  const user = new Command('user')
    .description('manage local users (projects mode) in the metadata database')
    .option('-c, --config <file>', 'YAML config file, as for `wharf serve`')
    .addHelpText(
      'after',
      '\nExamples:\n  wharf user add alice --email alice@example.com\n  echo "$PASSWORD" | wharf user add ci --password-stdin\n  wharf user add ops --admin --generate\n  wharf user ls\n',
    );

  user
    .command('add')
    .description('create a user (asks for the password; see --password-stdin and --generate)')
    .argument('<name>', 'lower-case letters, digits, ".", "_" or "-"; 1 to 64 characters')
    .option('--admin', 'make the user a system administrator')
    .option('--email <address>', 'the user’s email address')
    .option('--password-stdin', 'read the password from the first line of standard input')
    .option('--generate', 'generate a random password and print it')
    .action(async (name: string, options: PasswordOptions & { admin?: boolean; email?: string }, command: Command) => {
      await withUsers(command, async (users) => {
        validateUsername(name);
        if ((await users.find(name)) !== undefined) fail(`user "${name}" already exists`);
        const password = await choosePassword(options);
        const created = await users.create({ username: name, password, email: options.email, admin: options.admin });
        process.stdout.write(`created user "${created.username}"${created.admin ? ' (administrator)' : ''}\n`);
        if (options.generate) process.stdout.write(`password: ${password}\n`);
      });
    });

  user
    .command('passwd')
    .description('set a user’s password')
    .argument('<name>')
    .option('--password-stdin', 'read the password from the first line of standard input')
    .option('--generate', 'generate a random password and print it')
    .action(async (name: string, options: PasswordOptions, command: Command) => {
      await withUsers(command, async (users) => {
        await users.get(name);
        const password = await choosePassword(options);
        await users.setPassword(name, password);
        process.stdout.write(`password of "${name}" changed\n`);
        if (options.generate) process.stdout.write(`password: ${password}\n`);
      });
    });

  user
    .command('rm')
    .alias('remove')
    .description('delete a user')
    .argument('<name>')
    .action(async (name: string, _options: unknown, command: Command) => {
      await withUsers(command, async (users) => {
        await users.remove(name);
        process.stdout.write(`deleted user "${name}"\n`);
      });
    });

  for (const [verb, disabled] of [
    ['enable', false],
    ['disable', true],
  ] as const) {
    user
      .command(verb)
      .description(disabled ? 'refuse every login of a user' : 'allow a disabled user to log in again')
      .argument('<name>')
      .action(async (name: string, _options: unknown, command: Command) => {
        await withUsers(command, async (users) => {
          await users.update(name, { disabled });
          process.stdout.write(`${disabled ? 'disabled' : 'enabled'} user "${name}"\n`);
        });
      });
  }

  user
    .command('ls')
    .alias('list')
    .description('list users')
    .option('--json', 'print JSON instead of a table')
    .action(async (options: { json?: boolean }, command: Command) => {
      await withUsers(command, async (users) => {
        const all = await users.list();
        process.stdout.write(options.json ? `${JSON.stringify(all, null, 2)}\n` : formatTable(all));
      });
    });

  return user;
}

class CommandFailure extends Error {}

function fail(message: string): never {
  throw new CommandFailure(message);
}

/** Opens the database the config names, runs `work`, closes it; failures become messages and exit codes. */
async function withUsers(command: Command, work: (users: LocalUsers) => Promise<void>): Promise<void> {
  const { config: file } = command.optsWithGlobals<{ config?: string }>();
  const { config } = await loadConfigOrExit(file);
  if (!config.auth.projects.enabled && command.name() === 'add') {
    process.stderr.write('note: local users sign in only when auth.projects.enabled is true\n');
  }
  const db = await openDatabase(config.database);
  try {
    await work(new LocalUsers(new IdentityStore(db)));
  } catch (error) {
    if (error instanceof CommandFailure || isIdentityError(error)) {
      process.stderr.write(`wharf: ${error.message}\n`);
      process.exitCode = 1;
      return;
    }
    throw error;
  } finally {
    await db.destroy();
  }
}

async function choosePassword(options: PasswordOptions): Promise<string> {
  if (options.generate && options.passwordStdin) fail('use either --generate or --password-stdin');
  if (options.generate) return randomSecret(24);
  if (options.passwordStdin || !process.stdin.isTTY) {
    const password = await readLine(process.stdin);
    if (password === undefined || password === '') fail('no password on standard input');
    validatePassword(password);
    return password;
  }
  const password = await promptHidden('Password: ');
  validatePassword(password);
  if ((await promptHidden('Repeat password: ')) !== password) fail('the passwords do not match');
  return password;
}

/** The first line of a stream (without its line ending); undefined when the stream is empty. */
function readLine(stream: NodeJS.ReadStream): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    let text = '';
    const finish = (line: string | undefined) => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', reject);
      stream.pause();
      resolve(line?.replace(/\r$/, ''));
    };
    const onData = (chunk: Buffer) => {
      text += chunk.toString('utf8');
      const newline = text.indexOf('\n');
      if (newline !== -1) finish(text.slice(0, newline));
    };
    const onEnd = () => finish(text === '' ? undefined : text);
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', reject);
  });
}

/** Reads a line from the terminal without echoing it. */
function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  return new Promise((resolve) => {
    let value = '';
    const onData = (chunk: Buffer) => {
      for (const character of chunk.toString('utf8')) {
        if (character === '\u0003') {
          stdin.setRawMode(false);
          process.stderr.write('\n');
          process.exit(130);
        }
        if (character === '\r' || character === '\n' || character === '\u0004') {
          stdin.setRawMode(false);
          stdin.pause();
          stdin.off('data', onData);
          process.stderr.write('\n');
          resolve(value);
          return;
        }
        if (character === '\u007f' || character === '\b') value = [...value].slice(0, -1).join('');
        else value += character;
      }
    };
    stdin.on('data', onData);
  });
}

function formatTable(users: readonly LocalUser[]): string {
  const rows = [
    ['USERNAME', 'ADMIN', 'STATUS', 'SOURCE', 'EMAIL', 'CREATED'],
    ...users.map((user) => [
      user.username,
      user.admin ? 'yes' : 'no',
      user.disabled ? 'disabled' : 'enabled',
      user.source,
      user.email ?? '-',
      new Date(user.createdAt).toISOString().slice(0, 19).replace('T', ' '),
    ]),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return (
    rows.map((row) => `${row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ')}`.trimEnd()).join('\n') +
    '\n'
  );
}
