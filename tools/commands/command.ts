/**
 * What the operations commands (flush, compact, drain, tablestats, info) share: the
 * command shape tools/sibyl.ts dispatches to, their common flags (-h/--host like
 * nodetool, --json, --help), and how a run ends. Exit codes as in tools/sibyl.ts:
 * 0 success, 1 failure, 2 usage error.
 *
 * --json prints the node's answer as JSON on stdout. On failure the message goes to
 * stderr and, with --json, the node's error body (if it sent one) to stdout as well,
 * so a script can read the error code.
 */
import { parseArgs } from 'node:util';
import { type HostPort, parseHostPort } from '../../lib/config.js';
import { AdminClient, AdminRequestFailed } from './admin-client.js';

/** Where a command writes; tests capture it, the CLI passes the process streams. */
export interface CommandIo {
  stdout(text: string): void;
  stderr(text: string): void;
}

export const processIo: CommandIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

export interface AdminCommand {
  name: string;
  summary: string;
  /** Usage after `sibyl <name>`, options included. */
  usage: string;
  run(argv: string[], io?: CommandIo): Promise<number>;
}

const DEFAULT_NODE: HostPort = { host: '127.0.0.1', port: 8080 };

interface FlagSpec {
  type: 'string' | 'boolean';
  short?: string;
  value?: string;
  description: string;
}

const COMMON_FLAGS: Record<string, FlagSpec> = {
  host: { type: 'string', short: 'h', value: 'HOST:PORT', description: "the node's HTTP address (default 127.0.0.1:8080)" },
  json: { type: 'boolean', description: 'print the answer as JSON' },
  help: { type: 'boolean', description: 'show this help' },
};

type FlagValues = Record<string, string | boolean | undefined>;

/** What a command does once its flags are parsed: the text to print for a person, and
 *  the value to print instead under --json. */
export type CommandAction = (context: {
  client: AdminClient;
  positionals: string[];
  flags: FlagValues;
}) => Promise<{ human: string; json: unknown }>;

/** A mistake in how the command was called (exit code 2). */
export class UsageError extends Error {}

export interface CommandDefinition {
  name: string;
  summary: string;
  /** Positional arguments, for the usage line: '[KEYSPACE [TABLE…]]', '' for none. */
  positionals: string;
  /** The most positionals the command takes. */
  positionalsMax: number;
  /** Flags beyond -h/--host, --json, --help. */
  flags?: Record<string, FlagSpec>;
  action: CommandAction;
}

function usageOf(definition: CommandDefinition, flags: Record<string, FlagSpec>): string {
  const shown = Object.entries(flags)
    .filter(([name]) => name !== 'help')
    .map(([name, spec]) => {
      const flag = spec.short === undefined ? `--${name}` : `-${spec.short}|--${name}`;
      return `[${flag}${spec.value === undefined ? '' : ` ${spec.value}`}]`;
    });
  return [...shown, definition.positionals].filter((part) => part !== '').join(' ');
}

function helpOf(definition: CommandDefinition, usage: string, flags: Record<string, FlagSpec>): string {
  const rows = Object.entries(flags).map(([name, spec]) => {
    const short = spec.short === undefined ? '    ' : `-${spec.short}, `;
    return [`${short}--${name}${spec.value === undefined ? '' : ` ${spec.value}`}`, spec.description];
  });
  const width = Math.max(...rows.map(([flag]) => flag.length));
  const list = rows.map(([flag, description]) => `  ${flag.padEnd(width)}  ${description}`).join('\n');
  const summary = definition.summary[0].toUpperCase() + definition.summary.slice(1);
  return `Usage: sibyl ${definition.name} ${usage}\n\n${summary}.\n\nOptions:\n${list}\n`;
}

function nodeAddress(text: string | undefined): HostPort {
  if (text === undefined) return DEFAULT_NODE;
  try {
    const { host, port } = parseHostPort(text);
    return { host, port: port ?? DEFAULT_NODE.port };
  } catch (error) {
    throw new UsageError(`--host: ${(error as Error).message}`);
  }
}

function parseFlags(argv: string[], options: Record<string, { type: 'string' | 'boolean'; short?: string }>): {
  values: FlagValues;
  positionals: string[];
} {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    // parseArgs reports unknown flags and missing values with ERR_PARSE_ARGS_* codes.
    if ((error as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS_')) throw new UsageError((error as Error).message);
    throw error;
  }
}

/** Builds an AdminCommand: flag parsing, help, output and error reporting around `action`. */
export function adminCommand(definition: CommandDefinition): AdminCommand {
  const flags = { ...COMMON_FLAGS, ...definition.flags };
  const usage = usageOf(definition, flags);
  const parseOptions = Object.fromEntries(
    Object.entries(flags).map(([name, { type, short }]) => [name, short === undefined ? { type } : { type, short }]),
  );
  const name = definition.name;

  const run = async (argv: string[], io: CommandIo = processIo): Promise<number> => {
    let json = false;
    try {
      const { values, positionals } = parseFlags(argv, parseOptions);
      if (values.help === true) {
        io.stdout(helpOf(definition, usage, flags));
        return 0;
      }
      json = values.json === true;
      if (positionals.length > definition.positionalsMax) {
        throw new UsageError(`Unexpected argument '${positionals[definition.positionalsMax]}'`);
      }
      const client = new AdminClient(nodeAddress(values.host as string | undefined));
      const result = await definition.action({ client, positionals, flags: values });
      io.stdout(json ? `${JSON.stringify(result.json, null, 2)}\n` : result.human);
      return 0;
    } catch (error) {
      if (error instanceof UsageError) {
        io.stderr(`sibyl ${name}: ${error.message}\n\nUsage: sibyl ${name} ${usage}\n`);
        return 2;
      }
      if (error instanceof AdminRequestFailed) {
        if (json && error.body !== null) io.stdout(`${JSON.stringify(error.body, null, 2)}\n`);
        io.stderr(`sibyl ${name}: ${error.message}\n`);
        return 1;
      }
      throw error;
    }
  };
  return { name, summary: definition.summary, usage, run };
}

/** The `{ keyspace?, tables? }` scope from `[KEYSPACE [TABLE…]]`. */
export function scopeOf(positionals: string[]): { keyspace?: string; tables?: string[] } {
  const [keyspace, ...tables] = positionals;
  if (keyspace === undefined) return {};
  return tables.length === 0 ? { keyspace } : { keyspace, tables };
}
