/** `cat`: one file of a snapshot to stdout, block by block, checked against its digest. */
import { ExitCode, parseShownName, relativePath, SpareError } from "../util/mod.ts";
import { displayPath } from "../snapshot/mod.ts";
import { writeAll } from "../restore/mod.ts";
import type { Command } from "./context.ts";
import { backedUpPath, openForReading, readChosenSnapshot } from "./read_only.ts";

/** `spare cat PATH [--snapshot ID]`. */
export const catCommand: Command = {
  needsPassword: true,
  takesPath: false,
  defaultJobs: 0,
  positionals: { usage: "PATH", min: 1, max: 1 },
  async run(context) {
    const path = relativePath(parseShownName(context.args[0]));
    const shown = displayPath(path);
    const view = await openForReading(context);
    const snapshot = await readChosenSnapshot(view, context.flags.snapshot);
    const { table } = snapshot;
    const row = table.rowOf(path);
    const entry = table.type(row) ? table.entry(row) : undefined;
    const where = `in snapshot ${snapshot.id}`;
    if (!entry) {
      throw new SpareError(
        `${shown} is not ${where} (paths are relative to ${
          backedUpPath(table)
        }; spare ls lists them)`,
      );
    }
    if (entry.type === "directory") {
      throw new SpareError(`${shown} is a directory ${where}, not a file (spare ls '${shown}/**')`);
    }
    if (entry.type === "symlink") {
      throw new SpareError(
        `${shown} is a symlink ${where} (to ${
          displayPath(entry.link ?? entry.target)
        }), not a file`,
      );
    }
    const digest = table.digest(row);
    if (!digest) {
      if (entry.size === 0) return ExitCode.ok; // empty: no content stored
      throw new SpareError(`${shown} has no content ${where}`);
    }
    const info = view.listing.prefixes.get(digest);
    if (!info?.complete) {
      throw new SpareError(`the content of ${shown} (${digest}) is missing from the bucket`);
    }
    let intact: boolean;
    try {
      intact = await view.bucket.readContent(
        info,
        view.codec,
        (block) => writeAll(Deno.stdout, block),
      );
    } catch (err) {
      if (err instanceof Deno.errors.BrokenPipe) return ExitCode.ok; // the reader has enough
      if (err instanceof SpareError) {
        throw new SpareError(`${shown}: ${err.message}; the output is incomplete`, err.exitCode, {
          cause: err,
        });
      }
      throw err;
    }
    if (!intact) {
      throw new SpareError(
        `the content of ${shown} does not match its digest ${digest}: the output is corrupted`,
      );
    }
    return ExitCode.ok;
  },
};
