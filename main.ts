/** spare's entry point: arguments in, exit code out. */
import { main } from "./lib/cli.ts";

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
