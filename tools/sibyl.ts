#!/usr/bin/env node
/**
 * The `sibyl` command line. One table of commands: each names its options (which
 * node:util parseArgs enforces and the help text lists) and a run function returning
 * the exit code. Exit codes: 0 success, 1 failure, 2 usage error (unknown command or
 * flag, bad flag value).
 *
 * `sibyl node` runs a node in the foreground; the commands that talk to a running node
 * (status, ring, flush, repair …) will go through its HTTP API (/v1/admin) and take
 * `-h/--host HOST:PORT`, like nodetool.
 */
import { isatty } from 'node:tty';
import { parseArgs } from 'node:util';
import { type HttpLoggerOptions } from '../lib/api/server.js';
import { loadConfig, type NodeConfig, parseHostPort, splitSeeds } from '../lib/config.js';
import { ConfigurationError } from '../lib/errors.js';
import { SibylNode } from '../lib/node.js';
import { ADMIN_COMMANDS } from './commands/index.js';

/** Commands that talk to a running node over /v1/admin; they parse their own flags
 *  (`-h` is the node's address there, as in nodetool). */
const ADMIN = new Map(ADMIN_COMMANDS.map((command) => [command.name, command]));

interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** Placeholder for the value in help, e.g. HOST:PORT. */
  value?: string;
  description: string;
}

type OptionValues = Record<string, string | boolean | undefined>;

interface Command {
  summary: string;
  /** Usage line after `sibyl <name>`. */
  usage: string;
  /** Paragraphs shown by `sibyl help <name>` after the option list. */
  notes: string;
  options: Record<string, OptionSpec>;
  run(values: OptionValues, positionals: string[]): Promise<number>;
}

/** A mistake in how the command was called: reported with the usage, exit code 2. */
class UsageError extends Error {}

const HELP_OPTION: OptionSpec = { type: 'boolean', description: 'show this help' };

const COMMANDS: Record<string, Command> = {
  node: {
    summary: 'run a node in the foreground',
    usage: '[options]',
    notes:
      'Flags override the configuration file, which uses cassandra.yaml key names.\n' +
      'Port 0 picks a free port; the node logs the address it listens on.\n' +
      'Stops cleanly on Ctrl-C or SIGTERM.',
    options: {
      config: { type: 'string', value: 'FILE.yaml', description: 'configuration file' },
      data: { type: 'string', value: 'DIR', description: 'data directory (data_dir; default ./data)' },
      http: {
        type: 'string',
        value: 'HOST[:PORT]',
        description: 'HTTP API address (http_address, http_port; default 127.0.0.1:8080)',
      },
      listen: {
        type: 'string',
        value: 'HOST[:PORT]',
        description: 'internode address (listen_address, storage_port; default 127.0.0.1:7000)',
      },
      seeds: { type: 'string', value: 'HOST[:PORT],…', description: 'seed nodes (seeds; default this node)' },
      dc: { type: 'string', value: 'DC', description: 'datacenter of this node (dc; default datacenter1)' },
      rack: { type: 'string', value: 'RACK', description: 'rack of this node (rack; default rack1)' },
      help: HELP_OPTION,
    },
    run: runNode,
  },
  help: {
    summary: 'show help for a command',
    usage: '[command]',
    notes: '',
    options: { help: HELP_OPTION },
    run: async (_values, [name]) => {
      if (name === undefined) {
        process.stdout.write(generalUsage());
        return 0;
      }
      const admin = ADMIN.get(name);
      if (admin !== undefined) return admin.run(['--help']);
      if (!Object.hasOwn(COMMANDS, name)) throw new UsageError(`Unknown command '${name}'`);
      process.stdout.write(commandUsage(name));
      return 0;
    },
  },
};

function generalUsage(): string {
  const entries: [string, string][] = [
    ...Object.entries(COMMANDS).map(([name, command]): [string, string] => [name, command.summary]),
    ...ADMIN_COMMANDS.map((command): [string, string] => [command.name, command.summary]),
  ];
  const width = Math.max(...entries.map(([name]) => name.length));
  const lines = entries.map(([name, summary]) => `  ${name.padEnd(width)}  ${summary}`);
  return `Usage: sibyl <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nRun 'sibyl help <command>' for its options.\n`;
}

function commandUsage(name: string): string {
  const command = COMMANDS[name];
  const flags = Object.entries(command.options).map(([option, spec]) => {
    const short = spec.short === undefined ? '    ' : `-${spec.short}, `;
    return [`${short}--${option}${spec.value === undefined ? '' : ` ${spec.value}`}`, spec.description];
  });
  const width = Math.max(...flags.map(([flag]) => flag.length));
  const list = flags.map(([flag, description]) => `  ${flag.padEnd(width)}  ${description}`).join('\n');
  const notes = command.notes === '' ? '' : `\n${command.notes}\n`;
  return `Usage: sibyl ${name} ${command.usage}\n\n${command.summary[0].toUpperCase()}${command.summary.slice(1)}.\n\nOptions:\n${list}\n${notes}`;
}

/** `sibyl node`: flags → config → SibylNode, until a signal. */
async function runNode(values: OptionValues, positionals: string[]): Promise<number> {
  if (positionals.length > 0) throw new UsageError(`Unexpected argument '${positionals[0]}'`);
  const config = loadConfig({ file: values.config as string | undefined, flags: nodeFlags(values) });
  const node = await SibylNode.start(config, { logger: loggerOptions() });
  node.logger.info(`Try: ${curlExample(node.httpAddress)}`);
  const signal = await nextStopSignal();
  node.logger.info(`${signal} received, stopping (repeat to force)`);
  await node.stop();
  return 0;
}

type MutableFlags = { -readonly [Field in keyof NodeConfig]?: NodeConfig[Field] };

function nodeFlags(values: OptionValues): Partial<NodeConfig> {
  const { data, http, listen, seeds, dc, rack } = values as Record<string, string | undefined>;
  const address = (name: string, value: string) => {
    try {
      return parseHostPort(value);
    } catch (error) {
      throw new UsageError(`--${name}: ${(error as Error).message}`);
    }
  };
  const flags: MutableFlags = { dataDir: data, dc, rack };
  if (http !== undefined) ({ host: flags.httpAddress, port: flags.httpPort } = address('http', http));
  if (listen !== undefined) ({ host: flags.listenAddress, port: flags.storagePort } = address('listen', listen));
  if (seeds !== undefined) flags.seeds = splitSeeds(seeds);
  return flags; // undefined values are "not given": loadConfig skips them
}

/** Pretty, coloured lines for a person at a terminal; JSON lines for anything else. */
function loggerOptions(): HttpLoggerOptions {
  if (!isatty(1)) return { level: 'info' };
  return {
    level: 'info',
    transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } },
  };
}

/** A request that works on a fresh node. CQL string literals need single quotes, which
 *  a single-quoted shell argument cannot hold, so the JSON spells them \u0027. */
function curlExample(httpAddress: string): string {
  const target = httpAddress.replace(/^0\.0\.0\.0:/, '127.0.0.1:').replace(/^\[::\]:/, '[::1]:');
  const query =
    'CREATE KEYSPACE IF NOT EXISTS demo WITH replication = ' +
    "{\\u0027class\\u0027: \\u0027SimpleStrategy\\u0027, \\u0027replication_factor\\u0027: 1}";
  return `curl -s http://${target}/v1/cql -H 'content-type: application/json' -d '{"query": "${query}"}'`;
}

function nextStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    // Listen once: a second Ctrl-C gets the default action and ends the process.
    const onSignal = (signal: NodeJS.Signals) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

function parse(name: string, args: string[]): { values: OptionValues; positionals: string[] } {
  const options = Object.fromEntries(
    Object.entries(COMMANDS[name].options).map(([option, { type, short }]) => [option, short === undefined ? { type } : { type, short }]),
  );
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    // parseArgs reports unknown flags and missing values as TypeErrors with ERR_PARSE_ARGS_* codes.
    if ((error as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS_')) throw new UsageError((error as Error).message);
    throw error;
  }
}

async function main(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === '--help') {
    (name === undefined ? process.stderr : process.stdout).write(generalUsage());
    return name === undefined ? 2 : 0;
  }
  const admin = ADMIN.get(name);
  if (admin !== undefined) return admin.run(rest);
  if (!Object.hasOwn(COMMANDS, name)) {
    process.stderr.write(`sibyl: unknown command '${name}'\n\n${generalUsage()}`);
    return 2;
  }
  try {
    const { values, positionals } = parse(name, rest);
    if (values.help === true) {
      process.stdout.write(commandUsage(name));
      return 0;
    }
    return await COMMANDS[name].run(values, positionals);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`sibyl ${name}: ${error.message}\n\n${commandUsage(name)}`);
      return 2;
    }
    if (error instanceof ConfigurationError) {
      process.stderr.write(`sibyl ${name}: ${error.message}\n`);
      return 1;
    }
    // System errors (EADDRINUSE, EACCES …) say enough; anything else is a bug: show where.
    const systemError = typeof (error as NodeJS.ErrnoException).code === 'string';
    process.stderr.write(`sibyl ${name}: ${systemError ? (error as Error).message : ((error as Error).stack ?? String(error))}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
