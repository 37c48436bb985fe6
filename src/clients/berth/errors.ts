// The errors a `berth` command ends with, and their exit codes (oVirtCmd's): 253 usage and
// configuration, 252 object not found, 251 the operation failed. The runner prints the message
// (never a stack trace unless --debug) and exits with the code.
export const EXIT_USAGE = 253;
export const EXIT_NOT_FOUND = 252;
export const EXIT_FAILED = 251;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_FAILED,
    /** A second line (the XenAPI error's parameters, a YAML error's position). */
    readonly detail?: string,
  ) {
    super(message);
  }
}

/** A usage or configuration error (253). */
export function usageError(message: string): CliError {
  return new CliError(message, EXIT_USAGE);
}

/** No object matched the selection (252). */
export function notFoundError(message: string): CliError {
  return new CliError(message, EXIT_NOT_FOUND);
}
