// What `liveframe` exits with. Scripts and CI branch on these, so they are part of the API:
// change one only with a major version.
export const ExitCode = {
  /** The command did what was asked (server stopped gracefully, reload took over, …). */
  ok: 0,
  /** The command ran and failed: the app did not start, a reload was refused or failed. */
  failed: 1,
  /** The command line or the config file is wrong: nothing was attempted. */
  usage: 2,
  /** No liveframe server answers on the runtime dir (reload, status, stop). */
  notRunning: 3,
  /** The server answered but the command timed out waiting for the outcome. */
  timeout: 4,
  /**
   * This user may not control the server there (the runtime dir or control socket is another
   * user's, or the supervisor answers only its own uid and root). 77 is EX_NOPERM (sysexits.h).
   */
  denied: 77,
  /** Interrupted by SIGINT before the command finished (128 + 2, the shell convention). */
  interrupted: 130,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** An error a user can cause, carrying the exit code the CLI ends with. */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number = ExitCode.failed) {
    super(message);
    this.name = "CliError";
    this.exitCode = exitCode;
  }
}

/** A usage error: bad command, flag, value or config. Exit code 2. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, ExitCode.usage);
    this.name = "UsageError";
  }
}
