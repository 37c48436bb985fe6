// Runs one `berth` command: parse, connect, select, run the verb, print its outcome with
// oVirtCmd's rules, and end with its exit code and messages (253 usage/configuration, 252 not
// found, 251 failed). Never a stack trace unless --debug; the session is always logged out.
import type { Api, ApiObject } from './api.js';
import { type GlobalOptions, loadSettings } from './config.js';
import { closeApi, connectionFailure, openApi } from './connect.js';
import { CliError, EXIT_FAILED } from './errors.js';
import {
  effectiveFormat,
  type ListingStyle,
  makeOutput,
  parseFormat,
  renderListing,
  renderObject,
  type Streams,
} from './output.js';
import { nounOfObject } from './object-noun.js';
import { type Command, parseCommand } from './parse.js';
import { resolveTarget } from './select.js';
import type { NounSpec, Output, VerbContext, VerbOutcome, VerbSpec } from './spec.js';

export interface RunIo extends Streams {
  env: NodeJS.ProcessEnv;
}

type VerbCommand = Extract<Command, { kind: 'verb' }>;

function writeLines(stream: NodeJS.WritableStream, lines: (string | undefined)[]): void {
  const text = lines.filter((l) => l !== undefined).join('\n');
  if (text) stream.write(`${text}\n`);
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}

const isApiObject = (v: unknown): v is ApiObject =>
  typeof v === 'object' && v !== null && 'cls' in v && 'ref' in v && 'record' in v;

/** A message for a failure before or around the action (config, connection, expired session). */
function plainFailure(
  e: unknown,
  settingsTarget?: Parameters<typeof connectionFailure>[1],
): CliError | undefined {
  if (e instanceof CliError && e.exitCode !== EXIT_FAILED) return e;
  if ((e as { code?: string }).code === 'SESSION_INVALID')
    return new CliError(
      'the session is no longer valid (SESSION_INVALID): it expired or the manager restarted; run the command again',
      EXIT_FAILED,
    );
  if (settingsTarget) return connectionFailure(e, settingsTarget);
  return undefined;
}

/** Prints an error as oVirtCmd does and returns its exit code. */
function report(e: unknown, io: RunIo, debug: boolean, action?: string): number {
  if (debug && e instanceof Error && e.stack) io.stderr.write(`${e.stack}\n`);
  const plain = plainFailure(e);
  if (plain) {
    writeLines(io.stderr, [plain.message, plain.detail]);
    return plain.exitCode;
  }
  const code = e instanceof CliError ? e.exitCode : EXIT_FAILED;
  const message = e instanceof Error ? e.message : String(e);
  const detail = e instanceof CliError ? e.detail : undefined;
  if (action === undefined) {
    writeLines(io.stderr, [message, detail]);
    return code;
  }
  writeLines(io.stderr, [`The action "${action}" failed with`, indent(message), detail && indent(detail)]);
  return code;
}

function styleOf(noun: NounSpec, columns?: string[]): ListingStyle {
  return { noun: noun.name, nameField: noun.nameField ?? 'name_label', columns: columns ?? noun.listColumns };
}

/** An object of a class no noun names: labelled by its class, shown by name and uuid. */
function classStyle(cls: string): ListingStyle {
  return { noun: cls.toLowerCase(), nameField: 'name_label', columns: ['name_label', 'uuid'] };
}

/**
 * oVirtCmd's print rules for what a verb returned; the exit code. A returned object is labelled
 * by its own noun among `nouns` (object-noun.ts), not by the noun typed.
 */
export async function printOutcome(
  outcome: VerbOutcome,
  out: Output,
  io: RunIo,
  noun: NounSpec,
  verbName: string,
  nouns: readonly NounSpec[] = [noun],
): Promise<number> {
  const format = effectiveFormat(out);
  if (outcome === undefined || outcome === null) return 0;
  if (outcome === true) {
    out.line('success');
    return 0;
  }
  if (outcome === false) {
    io.stderr.write(`'${noun.name} ${verbName}' failed\n`);
    return EXIT_FAILED;
  }
  if (typeof outcome === 'string' || typeof outcome === 'number') {
    out.line(String(outcome));
    return 0;
  }
  if (isApiObject(outcome)) {
    const own = nounOfObject(outcome, nouns, noun);
    const style = own ? styleOf(own) : classStyle(outcome.cls);
    for (const l of await renderObject(outcome, format, style, out.colour)) out.line(l);
    return 0;
  }
  if ('records' in outcome) {
    // A listing keeps the typed noun's style: verbs shape its rows for it (`vm nics` names VIFs eth0).
    for (const l of await renderListing(outcome.records, format, styleOf(noun, outcome.columns), out.colour))
      out.line(l);
    return 0;
  }
  if ('exitCode' in outcome) {
    if (outcome.message) (outcome.exitCode === 0 ? io.stdout : io.stderr).write(`${outcome.message}\n`);
    return outcome.exitCode;
  }
  if (Symbol.asyncIterator in outcome || Symbol.iterator in outcome) {
    for await (const item of outcome as AsyncIterable<string>) {
      if (item === undefined || item === null || item === '') continue;
      out.line(String(item));
    }
    return 0;
  }
  out.line(String(outcome));
  return 0;
}

/** The verb's options merged with `-T FILE` / `-V NAME VALUE` (CLI wins); template.ts loads lazily. */
async function applyTemplate(
  verb: VerbSpec,
  opts: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  if (!verb.usesTemplate) return opts;
  const { template, variable, ...rest } = opts;
  const { mergeTemplate } = await import('./template.js');
  return mergeTemplate(rest, template as string | undefined, (variable ?? {}) as Record<string, string>);
}

/** Connects once, with the global options and the ini file; config errors are CliErrors (253). */
function connector(global: GlobalOptions, io: RunIo): () => Promise<Api> {
  return async () => {
    const settings = loadSettings(global, io.env);
    try {
      return await openApi(settings, (l) => io.stderr.write(`${l}\n`));
    } catch (e) {
      throw plainFailure(e, settings) ?? e;
    }
  };
}

async function runVerb(
  cmd: VerbCommand,
  out: Output,
  io: RunIo,
  nouns: readonly NounSpec[],
): Promise<number> {
  const action = `${cmd.noun.name} ${cmd.verbWord}`;
  const debug = cmd.global.debug === true;
  const verb = cmd.verb;
  if (!verb) return report(new CliError(`unknown verb ${cmd.verbWord}`, EXIT_FAILED), io, debug, action);
  let api: Api;
  try {
    api = await connector(cmd.global as GlobalOptions, io)();
  } catch (e) {
    return report(e, io, debug);
  }
  try {
    const selection = { ...cmd.nounOpts };
    const target = await resolveTarget(api, cmd.noun, selection, verb.target);
    const opts = await applyTemplate(verb, cmd.verbOpts);
    const ctx: VerbContext = { api, out, noun: cmd.noun, verb, selection, opts, args: cmd.args };
    const outcome = await verb.run(ctx, target);
    return await printOutcome(outcome, out, io, cmd.noun, verb.name, nouns);
  } catch (e) {
    return report(e, io, debug, action);
  } finally {
    out.progressDone();
    await closeApi(api);
  }
}

/** One command line; returns the exit code (main.ts sets it). `nouns` is the registry. */
export async function runCli(argv: string[], nouns: NounSpec[], io: RunIo): Promise<number> {
  let cmd: Command;
  try {
    cmd = parseCommand(argv, nouns);
  } catch (e) {
    return report(e, io, argv.includes('-d') || argv.includes('--debug'));
  }
  const debug = 'global' in cmd && cmd.global.debug === true;
  try {
    switch (cmd.kind) {
      case 'help': {
        const { globalHelp, nounHelp, verbHelp } = await import('./help.js');
        io.stdout.write(
          cmd.level === 'global'
            ? globalHelp(nouns)
            : cmd.level === 'noun'
              ? nounHelp(cmd.noun)
              : verbHelp(cmd.noun, cmd.verb),
        );
        return 0;
      }
      case 'verb':
        return await runVerb(
          cmd,
          makeOutput(io, io.env, parseFormat(cmd.global.output as string | undefined)),
          io,
          nouns,
        );
      case 'eval': {
        const out = makeOutput(io, io.env, parseFormat(cmd.global.output as string | undefined));
        const { runEval } = await import('./eval/run.js');
        return await runEval(connector(cmd.global as GlobalOptions, io), out, cmd.argv);
      }
      case 'completion': {
        const { completionScript } = await import('./completion.js');
        io.stdout.write(completionScript(cmd.shell));
        return 0;
      }
      case 'complete': {
        const { completeCommand } = await import('./completion.js');
        const lines = await completeCommand(cmd.words, nouns, connector(cmd.global as GlobalOptions, io));
        writeLines(io.stdout, lines);
        return 0;
      }
    }
  } catch (e) {
    return report(e, io, debug);
  }
}
