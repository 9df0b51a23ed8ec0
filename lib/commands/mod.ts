/**
 * commands: one file per command of the command line, thin: each turns its options into
 * a call of the engine (backup, restore, verify, snapshot) and its result into output and
 * an exit code. context.ts holds what they share (connection, codec, lock), read_only.ts
 * what the commands without a lock share. A new command goes here, and into lib/cli.ts.
 *
 * May import: backup, restore, verify, doctor, snapshot, bucket, s3, codec, crypto, util. Nothing
 * in another folder imports a command.
 */
export { catCommand } from "./cat.ts";
export {
  type Command,
  type CommandContext,
  type Connection,
  openConnection,
  parseCommandLine,
} from "./context.ts";
export { createCommand } from "./create.ts";
export { diffCommand } from "./diff.ts";
export { lockCommand, unlockCommand } from "./lock.ts";
export { lsCommand } from "./ls.ts";
export { restoreCommand } from "./restore.ts";
export { snapshotsCommand } from "./snapshots.ts";
export { verifyCommand } from "./verify.ts";
export { doctorCommand } from "./doctor.ts";
