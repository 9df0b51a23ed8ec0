/** spare's entry point: arguments in, exit code out. */
import { main } from "./lib/cli.ts";
import { returnFreedBlocksToSystem } from "./lib/util/mod.ts";

if (import.meta.main) {
  returnFreedBlocksToSystem();
  Deno.exit(await main(Deno.args));
}
