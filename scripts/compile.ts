/**
 * `deno task compile`: one executable per platform in dist/, with exactly the permission
 * flags of the `spare` task baked in. Set DENORT_BIN to a local denort (the Deno runtime
 * for the target) on builders without internet; otherwise deno downloads it.
 *
 *   deno task compile                      every target
 *   deno task compile x86_64-unknown-linux-gnu
 *
 * The executables use the system's liblzma through FFI and carry lzma-native's prebuilt
 * addon as the fallback (see lib/codec/xz.ts).
 */

/** The platforms we ship. */
export const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
];

import { spareTaskFlags } from "./spare_task.ts";

const ROOT = new URL("../", import.meta.url).pathname;

/** The `deno compile` arguments for one target. */
export function compileArgs(target: string): string[] {
  return [
    "compile",
    ...spareTaskFlags(),
    "--target",
    target,
    "--output",
    `${ROOT}dist/spare-${target}`,
    `${ROOT}main.ts`,
  ];
}

async function compile(target: string): Promise<boolean> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: compileArgs(target),
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  if (output.success) {
    console.log(`dist/spare-${target}`);
    return true;
  }
  if (/denort|download|fetch|dns|connect|network|tcp/i.test(stderr)) {
    const hint = Deno.env.get("DENORT_BIN")
      ? `DENORT_BIN=${Deno.env.get("DENORT_BIN")} did not work for this target`
      : "this machine cannot download it: set DENORT_BIN to a denort binary of Deno " +
        `${Deno.version.deno} for ${target}`;
    console.error(
      `error: cannot build dist/spare-${target}: the Deno runtime (denort) is missing; ${hint}`,
    );
  } else {
    const last = stderr.trim().split("\n").filter((l) => l.trim()).slice(-3).join("\n");
    console.error(`error: cannot build dist/spare-${target}:\n${last}`);
  }
  return false;
}

if (import.meta.main) {
  const targets = Deno.args.length ? Deno.args : TARGETS;
  for (const target of targets) {
    if (!TARGETS.includes(target)) {
      console.error(`error: unknown target ${target}; one of ${TARGETS.join(", ")}`);
      Deno.exit(2);
    }
  }
  await Deno.mkdir(`${ROOT}dist`, { recursive: true });
  let failed = 0;
  for (const target of targets) if (!(await compile(target))) failed++;
  Deno.exit(failed ? 1 : 0);
}
