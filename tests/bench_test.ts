/** The bench's own arithmetic (pure functions; the bench itself runs apart: `deno task bench`). */
import { assert, assertEquals } from "./assert.ts";
import { cpuTicksOfStat } from "../scripts/bench/measure.ts";

Deno.test("bench: a process's CPU ticks are read from /proc/PID/stat after its command name", () => {
  const rest = "S 1 2 3 0 -1 4194560 100 0 0 0 1234 567 8 9 20 0 12 0 100 2000000 300";
  assertEquals(cpuTicksOfStat(`4242 (radosgw) ${rest}`), 1234 + 567);
  // a command name with spaces and parentheses of its own
  assertEquals(cpuTicksOfStat(`4242 (a) b (c)) ${rest}`), 1234 + 567);
  assert(Number.isNaN(cpuTicksOfStat("")));
  assert(Number.isNaN(cpuTicksOfStat("4242 (cut) S 1 2")));
});
