/** Issue 4: network faults between the CLI and the server, through a fault proxy. */
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { cliEnv, hasServer, spare, spareExpect } from "./cli.ts";
import { FaultProxy } from "./fault_proxy.ts";
import { bucketState, describeTree, pseudoRandom, TempDirs } from "./tree.ts";

const options = { ignore: !hasServer, sanitizeResources: false, sanitizeOps: false };

async function makeSource(dirs: TempDirs): Promise<string> {
  const src = await dirs.make();
  await Deno.writeFile(`${src}/big.bin`, pseudoRandom(3 * 1024 * 1024 + 5, 3));
  for (let i = 0; i < 4; i++) {
    await Deno.writeTextFile(`${src}/f${i}.txt`, `file ${i}\n`.repeat(50));
  }
  return src;
}

Deno.test({
  name:
    "transient faults (resets, refused connections, cut bodies) are retried and the bucket verifies",
  ...options,
  fn: async () => {
    const dirs = new TempDirs();
    const env = cliEnv("transient");
    const src = await makeSource(dirs);
    const proxy = FaultProxy.start(env.SPARE_ENDPOINT);
    const viaProxy = { ...env, SPARE_ENDPOINT: proxy.endpoint };
    proxy.rules.resetWhen = /^PUT /;
    proxy.rules.resetCount = 3;
    await spareExpect(0, ["create", "--path", src], viaProxy);
    assertEquals(proxy.faults, 3);

    proxy.rules.cutResponseAfter = 200;
    proxy.rules.cutResponses = 3;
    await spareExpect(0, ["verify"], viaProxy);
    assert(proxy.faults >= 5, `cut responses: ${proxy.faults - 3}`);

    proxy.rules.refuse = true;
    setTimeout(() => proxy.rules.refuse = false, 700);
    const target = `${await dirs.make()}/t`;
    await spareExpect(0, ["restore", "--path", target], viaProxy);
    assertEquals(await describeTree(target), await describeTree(src));
    await proxy.close();
    await spareExpect(0, ["verify"], env);
    await dirs.removeAll();
  },
});

Deno.test({
  name: "a response body cut short is never taken for a complete object",
  ...options,
  fn: async () => {
    const dirs = new TempDirs();
    const env = cliEnv("cut");
    const src = await makeSource(dirs);
    await spareExpect(0, ["create", "--path", src], env);
    const proxy = FaultProxy.start(env.SPARE_ENDPOINT);
    proxy.rules.cutResponseAfter = 4096; // headers and a little of the body
    proxy.rules.cutResponses = 1_000_000;
    const target = `${await dirs.make()}/t`;
    const result = await spare(["restore", "--path", target, "--timeout", "5"], {
      ...env,
      SPARE_ENDPOINT: proxy.endpoint,
    });
    await proxy.close();
    assertEquals(result.code, 1, result.stderr);
    assertStringIncludes(result.stderr, "GetObject");
    assertStringIncludes(result.stderr, "cut short");
    assert(!result.stderr.includes("    at "), "no stack trace");
    // nothing that was written holds wrong bytes: every file present is complete or absent
    const original = await describeTree(src);
    for (const [path, entry] of Object.entries(await describeTree(target))) {
      if (entry.type === "file" && entry.size === original[path].size) {
        assertEquals(entry.sha256, original[path].sha256, path);
      }
    }
    await dirs.removeAll();
  },
});

Deno.test({
  name:
    "a run that cannot succeed fails in one line naming endpoint and operation, no snapshot, lock released",
  ...options,
  fn: async () => {
    const dirs = new TempDirs();
    const env = cliEnv("hopeless");
    const src = await makeSource(dirs);
    const proxy = FaultProxy.start(env.SPARE_ENDPOINT);
    proxy.rules.resetWhen = /^PUT [^ ]*\/0000000/; // every block upload fails; other requests pass
    const result = await spare(["create", "--path", src], {
      ...env,
      SPARE_ENDPOINT: proxy.endpoint,
    });
    await proxy.close();
    assertEquals(result.code, 1, result.stderr);
    const lines = result.stderr.trim().split("\n");
    assertEquals(lines.length, 1, result.stderr);
    assertStringIncludes(lines[0], "PutObject");
    assertStringIncludes(lines[0], proxy.endpoint);
    assertEquals((await bucketState(env)).locked, false);
    assertEquals((await bucketState(env)).snapshots, 0);
    await dirs.removeAll();
  },
});

Deno.test({
  name: "when the server goes away for good, the error says to run spare unlock",
  ...options,
  fn: async () => {
    const dirs = new TempDirs();
    const env = cliEnv("gone");
    const src = await makeSource(dirs);
    const proxy = FaultProxy.start(env.SPARE_ENDPOINT);
    proxy.rules.resetWhen = /^PUT [^ ]*\/0000000/;
    proxy.rules.downAfterReset = true;
    const result = await spare(["create", "--path", src], {
      ...env,
      SPARE_ENDPOINT: proxy.endpoint,
    });
    await proxy.close();
    assertEquals(result.code, 1, result.stderr);
    assertStringIncludes(result.stderr, proxy.endpoint);
    assertStringIncludes(result.stderr, "spare unlock");
    assert((await bucketState(env)).locked, "the lock could not be released");
    await spareExpect(0, ["unlock"], env);
    await spareExpect(0, ["create", "--path", src], env);
    await spareExpect(0, ["verify"], env);
    await dirs.removeAll();
  },
});

Deno.test({
  name: "a server that stops answering: each request gives up after --timeout, then one clear line",
  ...options,
  fn: async () => {
    const dirs = new TempDirs();
    const env = cliEnv("stalled");
    const src = await makeSource(dirs);
    const proxy = FaultProxy.start(env.SPARE_ENDPOINT);
    proxy.rules.stallWhen = /^PUT [^ ]*\/0000000/; // block uploads get no answer, ever
    const started = Date.now();
    const result = await spare(["create", "--path", src, "--timeout", "2"], {
      ...env,
      SPARE_ENDPOINT: proxy.endpoint,
    });
    await proxy.close();
    assertEquals(result.code, 1, result.stderr);
    assertStringIncludes(result.stderr, "PutObject");
    assertStringIncludes(result.stderr, "no answer within 2 s");
    assert(Date.now() - started < 60_000, "bounded: 5 attempts of 2 s and the backoff");
    assertEquals((await bucketState(env)).locked, false);
    assertEquals((await bucketState(env)).snapshots, 0);
    await dirs.removeAll();
  },
});
