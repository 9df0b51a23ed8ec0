/** `verify` (alias `validate`): download and check every snapshot's contents, or a share of them. */
import { intOption } from "../config.ts";
import { ExitCode, UsageError } from "../util/mod.ts";
import { withLock } from "../bucket/mod.ts";
import { verifyBucket, type VerifyScope } from "../verify/mod.ts";
import {
  type Command,
  type CommandContext,
  FILES_READ_AT_ONCE,
  openCodec,
  progressLine,
} from "./context.ts";

/** `spare verify [--sample PERCENT [--seed N] | --structure-only]`. */
export const verifyCommand: Command = {
  needsPassword: true,
  takesPath: false,
  defaultJobs: 0,
  async run(context) {
    const scope = verifyScope(context);
    const { bucket } = context.connect();
    const progress = progressLine(context);
    try {
      await bucket.checkMarker();
      const codec = await openCodec(context, bucket);
      const result = await withLock(bucket, "verify", context.log, async (signal) => {
        const listing = await bucket.listing();
        return verifyBucket(bucket, codec, listing, context.log, {
          ...scope,
          signal,
          concurrency: Math.max(FILES_READ_AT_ONCE, context.jobs),
          onProgress: (p) => progress.update(p),
        });
      });
      progress.clear();
      const ok = result.problems.length === 0;
      if (!context.flags.json && result.mode !== "full") {
        const seed = result.seed === undefined
          ? ""
          : ` (--sample ${scope.sample!.percent} --seed ${result.seed})`;
        const what = result.mode === "sample" ? "downloaded and checked" : "found every block of";
        context.print(
          `verify: ${what} ${result.digestsChecked} of ${result.digestsTotal} contents${seed}` +
            `: ${ok ? "no problem" : `${result.problems.length} problems`}`,
        );
      }
      context.emit({ result: ok ? "ok" : "problems", ...result });
      return ok ? ExitCode.ok : ExitCode.failure;
    } finally {
      progress.clear();
    }
  },
};

/** --sample PERCENT [--seed N] or --structure-only, checked; {} for a full verify. */
function verifyScope(context: CommandContext): VerifyScope {
  const { flags } = context;
  if (flags["structure-only"]) {
    if (flags.sample !== undefined || flags.seed !== undefined) {
      throw new UsageError("--structure-only downloads no content: leave out --sample and --seed");
    }
    return { structureOnly: true };
  }
  if (flags.sample === undefined) {
    if (flags.seed !== undefined) throw new UsageError("--seed goes with --sample PERCENT");
    return {};
  }
  const text = flags.sample.replace(/%$/, "");
  const percent = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || !(percent > 0 && percent <= 100)) {
    throw new UsageError(
      `--sample takes a percentage above 0 and up to 100, got ${JSON.stringify(flags.sample)}`,
    );
  }
  const randomSeed = crypto.getRandomValues(new Uint32Array(1))[0];
  const seed = intOption(flags.seed, "seed", 0, 0xffffffff, randomSeed);
  return { sample: { percent, seed } };
}
