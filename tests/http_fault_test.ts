/**
 * Issue 13: S3 answers that lie, through an HTTP-level fault proxy. Transient lies are
 * retried; lasting ones fail with one line per problem; none is ever taken for data.
 */
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { type CliEnv, cliEnv, type CliResult, hasServer, spare, spareExpect } from "./cli.ts";
import { FaultProxy, type HttpFault } from "./fault_proxy.ts";
import { bucketState, describeTree, pseudoRandom, TempDirs } from "./tree.ts";

const options = { ignore: !hasServer, sanitizeResources: false, sanitizeOps: false };

/** GETs and PUTs of content blocks (prefixes named by a digest), of snapshot blocks. */
const CONTENT_GET = /^GET \/[^/ ]+\/[0-9a-f]{64}\//;
const CONTENT_PUT = /^PUT \/[^/ ]+\/[0-9a-f]{64}\//;
const SNAPSHOT_GET = /^GET \/[^/ ]+\/snapshot_/;

/** Three full random blocks of equal stored size, and small text files. */
async function makeSource(dirs: TempDirs): Promise<string> {
  const src = await dirs.make();
  await Deno.writeFile(`${src}/big.bin`, pseudoRandom(3 * 1024 * 1024 + 5, 13));
  for (let i = 0; i < 4; i++) {
    await Deno.writeTextFile(`${src}/f${i}.txt`, `file ${i}\n`.repeat(300 + i));
  }
  return src;
}

/** Runs spare through a fresh HTTP fault proxy that tells `faults`. */
async function throughProxy(
  env: CliEnv,
  faults: HttpFault[],
  args: string[],
  oncePerPath = false,
): Promise<CliResult & { proxy: FaultProxy }> {
  const proxy = FaultProxy.startHttp(env.SPARE_ENDPOINT);
  proxy.rules.http = faults;
  proxy.rules.oncePerPath = oncePerPath;
  try {
    const result = await spare(args, { ...env, SPARE_ENDPOINT: proxy.endpoint });
    return { ...result, proxy };
  } finally {
    await proxy.close();
  }
}

/** Every kind of lie, once each (in this order) for the requests `when` matches. */
function eachLieOnce(when: RegExp): HttpFault[] {
  return [
    { when, kind: "truncate", count: 1 },
    { when, kind: "lengthShort", count: 1 },
    { when, kind: "lengthLong", count: 1 },
    { when, kind: "status", status: 500, code: "InternalError", count: 1 },
    { when, kind: "status", status: 503, code: "ServiceUnavailable", count: 1 },
    { when, kind: "status", status: 503, code: "SlowDown", count: 1 },
  ];
}

/** One error line per problem, each naming the operation, and no stack trace. */
function assertCleanFailure(result: CliResult, ...expected: string[]): void {
  assertEquals(result.code, 1, result.stderr);
  assert(!result.stderr.includes("    at "), `no stack trace:\n${result.stderr}`);
  assert(!result.stderr.includes("unexpected failure"), result.stderr);
  for (const text of expected) assertStringIncludes(result.stderr, text);
}

/** Files of the restore that exist hold the original bytes (a failed run may leave some out). */
async function assertNothingWrongWritten(target: string, src: string): Promise<void> {
  const original = await describeTree(src);
  let present: Awaited<ReturnType<typeof describeTree>> = {};
  try {
    present = await describeTree(target);
  } catch { /* no target at all */ }
  for (const [path, entry] of Object.entries(present)) {
    if (entry.type !== "file") continue;
    if (entry.size === original[path]?.size) {
      assertEquals(entry.sha256, original[path].sha256, path);
    }
  }
}

Deno.test({
  name:
    "lying answers once each (cut, wrong length, 500, 503, SlowDown) are retried: create, verify, restore",
  ...options,
  fn: async () => {
    const dirs = new TempDirs();
    const env = cliEnv("http-transient");
    const src = await makeSource(dirs);
    const statuses: HttpFault[] = [
      { when: CONTENT_PUT, kind: "status", status: 500, code: "InternalError", count: 1 },
      { when: CONTENT_PUT, kind: "status", status: 503, code: "ServiceUnavailable", count: 1 },
      { when: CONTENT_PUT, kind: "status", status: 503, code: "SlowDown", count: 1 },
      { when: /^PUT [^ ]*\/\.lock/, kind: "status", status: 503, code: "SlowDown", count: 1 },
    ];
    let run = await throughProxy(env, statuses, ["create", "--path", src]);
    assertEquals(run.code, 0, run.stderr);
    assertEquals(run.proxy.faults, 4);

    // a second create reads the previous snapshot (one request: 4 lies, then the answer)
    await Deno.writeTextFile(`${src}/f0.txt`, "changed\n");
    run = await throughProxy(env, eachLieOnce(SNAPSHOT_GET).slice(0, 4), ["create", "--path", src]);
    assertEquals(run.code, 0, run.stderr);
    assertEquals(run.proxy.faults, 4);

    run = await throughProxy(env, eachLieOnce(/^GET /), ["verify"], true);
    assertEquals(run.code, 0, run.stderr);
    assertEquals(run.proxy.faults, 6);

    const target = `${await dirs.make()}/t`;
    run = await throughProxy(env, eachLieOnce(CONTENT_GET), ["restore", "--path", target], true);
    assertEquals(run.code, 0, run.stderr);
    assertEquals(run.proxy.faults, 6);
    assertEquals(await describeTree(target), await describeTree(src));
    await spareExpect(0, ["verify"], env);
    await dirs.removeAll();
  },
});

Deno.test({
  name: "a lie that lasts fails restore and verify with one line naming it, and writes no data",
  ...options,
  fn: async () => {
    const dirs = new TempDirs();
    const env = cliEnv("http-lasting");
    const src = await makeSource(dirs);
    await spareExpect(0, ["create", "--path", src, "--timeout", "5"], env);
    const lasting: [HttpFault, string][] = [
      [{ when: CONTENT_GET, kind: "truncate" }, "cut short"],
      [{ when: CONTENT_GET, kind: "lengthShort" }, "the listing says"],
      [{ when: CONTENT_GET, kind: "lengthLong" }, "the listing says"],
      [{ when: CONTENT_GET, kind: "status", status: 500, code: "InternalError" }, "HTTP 500"],
      [{ when: CONTENT_GET, kind: "status", status: 503, code: "SlowDown" }, "SlowDown"],
    ];
    for (const [fault, reason] of lasting) {
      const target = `${await dirs.make()}/t`;
      const restore = await throughProxy(env, [{ ...fault }], ["restore", "--path", target]);
      assertCleanFailure(restore, "GetObject", reason, "incomplete");
      await assertNothingWrongWritten(target, src);
      const verify = await throughProxy(env, [{ ...fault }], ["verify"]);
      assertCleanFailure(verify, "GetObject", reason);
      // one line per problem: each names a content and the paths it affects
      for (const line of verify.stderr.trim().split("\n")) assertStringIncludes(line, "affects");
      assertEquals((await bucketState(env)).locked, false);
    }
    // a listing cut short, or cut to a shorter Content-Length (which does not parse)
    const listing = /^GET [^ ]*list-type=2/;
    for (
      const [kind, reason] of [
        ["truncate", "closed before the answer was complete"],
        ["lengthShort", "the answer could not be read"],
      ] as const
    ) {
      const verify = await throughProxy(env, [{ when: listing, kind }], ["verify"]);
      assertCleanFailure(verify, "ListObjectsV2", reason);
      assertEquals(verify.stderr.trim().split("\n").length, 1, verify.stderr);
      assertEquals(verify.proxy.faults, 5, "retried");
    }
    await dirs.removeAll();
  },
});

Deno.test({
  name: "lasting 503 SlowDown on uploads: create fails with one line, no snapshot, lock released",
  ...options,
  fn: async () => {
    const dirs = new TempDirs();
    const env = cliEnv("http-slowdown");
    const src = await makeSource(dirs);
    const run = await throughProxy(env, [
      { when: CONTENT_PUT, kind: "status", status: 503, code: "SlowDown" },
    ], ["create", "--path", src]);
    assertCleanFailure(run, "PutObject", "SlowDown (HTTP 503)");
    assertEquals(run.stderr.trim().split("\n").length, 1, run.stderr);
    const state = await bucketState(env);
    assertEquals(state.locked, false);
    assertEquals(state.snapshots, 0);
    await dirs.removeAll();
  },
});

Deno.test({
  name: "another object's bytes (same length) fail authentication: the nonce is associated data",
  ...options,
  fn: async () => {
    const dirs = new TempDirs();
    const env = cliEnv("http-swap");
    const src = await makeSource(dirs);
    await spareExpect(0, ["create", "--path", src], env);
    const swap: HttpFault = { when: CONTENT_GET, kind: "swap", sameLength: true };

    const target = `${await dirs.make()}/t`;
    const restore = await throughProxy(env, [{ ...swap }], ["restore", "--path", target]);
    assert(restore.proxy.faults > 0, "a body was swapped");
    assertCleanFailure(restore, "is corrupted", "incomplete");
    assert(/the block [0-9a-f]{64}\/\d{9}-[0-9a-f]{32} is corrupted/.test(restore.stderr));
    await assertNothingWrongWritten(target, src);

    const verify = await throughProxy(env, [{ ...swap }], ["verify"]);
    assert(verify.proxy.faults > 0, "a body was swapped");
    assertCleanFailure(verify, "is corrupted");

    // bodies of another length are not taken either
    const other = `${await dirs.make()}/t`;
    const anyLength = await throughProxy(env, [{ ...swap, sameLength: false }], [
      "restore",
      "--path",
      other,
    ]);
    assert(anyLength.proxy.faults > 0, "a body was swapped");
    assertCleanFailure(anyLength, "incomplete");
    await assertNothingWrongWritten(other, src);
    await spareExpect(0, ["verify"], env);
    await dirs.removeAll();
  },
});
