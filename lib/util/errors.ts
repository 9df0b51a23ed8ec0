/** Errors that the CLI reports as one line, with the exit code they carry. */

/** Exit codes, stable and documented in the README. */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  warnings: 3,
  sigint: 130,
  sigterm: 143,
} as const;

/** An expected failure: its message is shown to the operator without a stack trace. */
export class SpareError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = ExitCode.failure,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "SpareError";
  }
}

/** A command line that cannot be run as written (exit 2). */
export class UsageError extends SpareError {
  constructor(message: string) {
    super(message, ExitCode.usage);
    this.name = "UsageError";
  }
}

/** A block that does not authenticate: the password is wrong or the object was changed. */
export class BlockAuthError extends SpareError {
  constructor(readonly key: string, options?: ErrorOptions) {
    super(`wrong password, or the block ${key} is corrupted`, ExitCode.failure, options);
    this.name = "BlockAuthError";
  }
}

/** A block that authenticates but whose .xz stream does not decompress (damaged before sealing). */
export class BlockDecompressError extends SpareError {
  constructor(readonly key: string, reason: string, options?: ErrorOptions) {
    super(`the block ${key} does not decompress: ${reason}`, ExitCode.failure, options);
    this.name = "BlockDecompressError";
  }
}

/** The run was interrupted by SIGINT or SIGTERM. */
export class InterruptedError extends SpareError {
  constructor(readonly signal: "SIGINT" | "SIGTERM") {
    super(`interrupted by ${signal}`, signal === "SIGINT" ? ExitCode.sigint : ExitCode.sigterm);
    this.name = "InterruptedError";
  }
}
