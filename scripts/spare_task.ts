/** The permission flags of the `spare` task in deno.json: what the executables get, and what tests run with. */

const ROOT = new URL("../", import.meta.url).pathname;

/** The `deno run` permission flags of the spare task in deno.json. */
export function spareTaskFlags(): string[] {
  const config = JSON.parse(Deno.readTextFileSync(`${ROOT}deno.json`));
  const words: string[] = config.tasks.spare.split(/\s+/);
  return words.slice(words.indexOf("run") + 1, words.indexOf("main.ts"));
}

/** The command line that runs spare's main.ts with the spare task's flags. */
export function spareRunArgs(args: string[], flags = spareTaskFlags()): string[] {
  return ["run", "--quiet", ...flags, `${ROOT}main.ts`, ...args];
}
