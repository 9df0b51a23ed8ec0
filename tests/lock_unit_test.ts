/** Issue 27: lock bodies are untrusted input; liveness files tell a live run from a dead one. */
import { assert, assertEquals } from "./assert.ts";
import { describeLockHolder, parseLockHolder } from "../lib/bucket/lock_protocol.ts";
import { isLivenessPath, LivenessFile, runGone } from "../lib/bucket/stale.ts";

const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

Deno.test("a lock's body keeps only well-formed fields", () => {
  assertEquals(parseLockHolder(new Uint8Array(0)), {}); // 0.4.0's empty .lock
  assertEquals(parseLockHolder(new TextEncoder().encode("not json")), {});
  assertEquals(parseLockHolder(encode([1, 2])), {});
  assertEquals(
    parseLockHolder(encode({
      hostname: "host\u001b[2Jevil",
      pid: -3,
      command: "create",
      started: "2026-12-07T00:00:00.000Z",
      lockObject: "../../etc",
      alive: "/etc/passwd",
    })),
    { command: "create", started: "2026-12-07T00:00:00.000Z" },
  );
  const good = {
    hostname: "backup-host",
    pid: 42,
    command: "restore",
    started: "2026-12-07T00:00:00.000Z",
    lockObject: ".spare-locks/1765065600000-0011223344556677",
    alive: "/tmp/spare-lock-abc123",
  };
  assertEquals(parseLockHolder(encode(good)), good);
  assertEquals(
    describeLockHolder(good),
    "backup-host pid 42 since 2026-12-07T00:00:00.000Z (restore)",
  );
});

Deno.test("liveness paths: absolute, plain, named as spare's", () => {
  assert(isLivenessPath("/tmp/spare-lock-abc"));
  assert(!isLivenessPath("/etc/passwd"));
  assert(!isLivenessPath("/tmp/../etc/spare-lock-x"));
  assert(!isLivenessPath("spare-lock-x"));
});

Deno.test("a flocked liveness file is a live run; once released or gone, the run is gone", async () => {
  const live = await LivenessFile.create();
  assert(live);
  assert(!(await runGone(live.path)), "flocked: the run lives");
  const copy = await Deno.makeTempFile({ prefix: "spare-lock-" });
  assert(await runGone(copy), "a file nobody flocks: the run is gone");
  await Deno.remove(copy);
  assert(await runGone(copy), "no file: the run is gone");
  await live.release();
  assert(await runGone(live.path));
  assert(!(await runGone("/etc/passwd")), "not a liveness path: nothing is known");
});
