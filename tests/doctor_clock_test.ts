/** `spare doctor`'s clock check from an answer's Date header (pure functions, no server). */
import { clockSkewSeconds, judgeClock } from "../lib/doctor/connect.ts";
import type { Answer } from "../lib/doctor/probe.ts";
import { ReportBuilder } from "../lib/doctor/report.ts";
import { assertEquals, assertStringIncludes } from "./assert.ts";

const SERVER = Date.parse("2026-12-07T12:00:00Z");

/** An answer whose Date is SERVER, received when this machine's clock read `local`. */
function answerAt(local: number, date = new Date(SERVER).toUTCString()): Answer {
  return { status: 200, headers: { date }, elapsedMs: 40, localMidpoint: local };
}

Deno.test("doctor clock: skew from Date, within a second counts as none", () => {
  assertEquals(clockSkewSeconds(answerAt(SERVER + 700)), 0);
  assertEquals(clockSkewSeconds(answerAt(SERVER + 90_500)), 90);
  assertEquals(clockSkewSeconds(answerAt(SERVER - 3_599_500)), -3600);
  assertEquals(clockSkewSeconds(answerAt(SERVER, "not a date")), undefined);
});

Deno.test("doctor clock: ok under a minute, warn up to 15 minutes, fail beyond", () => {
  const cases: [number, string, string][] = [
    [SERVER + 20_500, "ok", "20 s ahead of"],
    [SERVER + 120_500, "warn", "120 s ahead of"],
    [SERVER - 16 * 60_000 + 500, "fail", "960 s behind"],
  ];
  for (const [local, status, words] of cases) {
    const report = new ReportBuilder();
    judgeClock(report, answerAt(local));
    assertEquals(report.checks[0].status, status);
    assertStringIncludes(report.checks[0].message, words);
  }
  const none = new ReportBuilder();
  judgeClock(none, { status: 200, headers: {}, elapsedMs: 1, localMidpoint: SERVER });
  assertEquals(none.checks[0].status, "warn");
});
