/** Issue 4: SIGINT/SIGTERM and kill -9 never leave a broken bucket behind. */
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import {
  type CliEnv,
  cliEnv,
  hasServer,
  passThroughEnv,
  spareCommand,
  spareExpect,
  waitFor,
} from "./cli.ts";
import { FaultProxy } from "./fault_proxy.ts";
import { bucketState, describeTree, pseudoRandom, TempDirs } from "./tree.ts";

const options = { ignore: !hasServer, sanitizeResources: false, sanitizeOps: false };

/** A tree with a multi-block file and a few small ones. */
async function makeSource(dirs: TempDirs, seed = 1): Promise<string> {
  const src = await dirs.make();
  await Deno.writeFile(`${src}/big.bin`, pseudoRandom(6 * 1024 * 1024 + 123, seed));
  await Deno.mkdir(`${src}/docs`);
  for (let i = 0; i < 5; i++) {
    await Deno.writeTextFile(`${src}/docs/${i}.txt`, `doc ${i} ${seed}\n`.repeat(100));
  }
  return src;
}

/** Runs create through a proxy and stops it with `signal` once `ready` holds. */
async function interruptedRun(
  args: string[],
  env: CliEnv,
  proxy: FaultProxy,
  ready: () => boolean,
  signal: Deno.Signal,
): Promise<{ code: number; stderr: string }> {
  const child = spareCommand(args, { ...passThroughEnv(), ...env, SPARE_ENDPOINT: proxy.endpoint })
    .spawn();
  try {
    await waitFor("the run to reach the point of interruption", ready);
  } catch (err) {
    child.kill("SIGKILL");
    await child.output();
    throw err;
  }
  child.kill(signal);
  const output = await child.output();
  return { code: output.code, stderr: new TextDecoder().decode(output.stderr) };
}

for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
  Deno.test({
    name:
      `${signal} during create: no snapshot, lock released, exit ${code}; the next create completes`,
    ...options,
    fn: async () => {
      const dirs = new TempDirs();
      const env = cliEnv("sig");
      const src = await makeSource(dirs);
      const proxy = FaultProxy.start(env.SPARE_ENDPOINT);
      proxy.rules.delayMs = 40; // a slow link, so that the upload is still running
      const run = await interruptedRun(
        ["create", "--path", src],
        env,
        proxy,
        () => proxy.requests.some((r) => /^PUT [^ ]*\/00000000[2-9]-/.test(r)),
        signal,
      );
      await proxy.close();
      assertEquals(run.code, code, run.stderr);
      assertStringIncludes(run.stderr, `interrupted by ${signal}`);
      const after = await bucketState(env);
      assertEquals(after.locked, false);
      assertEquals(after.snapshots, 0);

      await spareExpect(0, ["create", "--path", src], env);
      await spareExpect(0, ["verify"], env);
      const final = await bucketState(env);
      assertEquals(final.incomplete, 0, "partial prefixes were pruned");
      assertEquals(final.prefixes, 1 + 1 + 5);
      await dirs.removeAll();
    },
  });
}

Deno.test({
  name: "SIGINT during restore and verify releases the lock and says the restore is incomplete",
  ...options,
  fn: async () => {
    const dirs = new TempDirs();
    const env = cliEnv("sigrest");
    const src = await makeSource(dirs);
    await spareExpect(0, ["create", "--path", src], env);
    for (const command of ["restore", "verify"]) {
      const proxy = FaultProxy.start(env.SPARE_ENDPOINT);
      proxy.rules.delayMs = 40;
      const target = `${await dirs.make()}/target`;
      const run = await interruptedRun(
        command === "restore" ? ["restore", "--path", target] : ["verify"],
        env,
        proxy,
        () =>
          proxy.requests.some((r) =>
            /^GET [^ ]*\/00000000[1-9]-/.test(r) && !r.includes("snapshot_")
          ),
        "SIGINT",
      );
      await proxy.close();
      assertEquals(run.code, 130, run.stderr);
      if (command === "restore") assertStringIncludes(run.stderr, "is incomplete");
      assertEquals((await bucketState(env)).locked, false);
    }
    const target = `${await dirs.make()}/again`;
    await spareExpect(0, ["restore", "--path", target], env);
    assertEquals(await describeTree(target), await describeTree(src));
    await dirs.removeAll();
  },
});

/** Runs create through a proxy that holds the first request matching `request`, then kill -9. */
async function killWhenStalled(env: CliEnv, src: string, request: RegExp): Promise<void> {
  const proxy = FaultProxy.start(env.SPARE_ENDPOINT);
  proxy.rules.stallWhen = request;
  const run = await interruptedRun(
    ["create", "--path", src],
    env,
    proxy,
    () => proxy.faults > 0,
    "SIGKILL",
  );
  await proxy.close();
  assertEquals(run.code, 137);
}

/** What an operator does after a crash: unlock, create, verify; returns the bucket's state. */
async function unlockCreateVerify(env: CliEnv, src: string) {
  await spareExpect(0, ["unlock"], env);
  await spareExpect(0, ["create", "--path", src], env);
  await spareExpect(0, ["verify"], env);
  return await bucketState(env);
}

const killPoints: [string, RegExp][] = [
  ["in the middle of uploading a file of several blocks", /^PUT [^ ]*\/000000003-/],
  ["while the snapshot is being written", /^PUT [^ ]*snapshot_/],
];

for (const [when, request] of killPoints) {
  Deno.test({
    name: `kill -9 ${when}, then create takes the dead run's lock over: the bucket verifies`,
    ...options,
    fn: async () => {
      const dirs = new TempDirs();
      const env = cliEnv("kill");
      const src = await makeSource(dirs);
      await killWhenStalled(env, src, request);
      const after = await bucketState(env);
      assert(after.locked, "kill -9 leaves the lock");
      assertEquals(after.snapshots, 0);
      // the killed run was of this host: the next run takes its lock over (issue 27)
      const next = await spareExpect(0, ["create", "--path", src], env);
      assertStringIncludes(next.stderr, "taking over the lock of");
      await spareExpect(0, ["verify"], env);
      const final = await bucketState(env);
      assertEquals(final.incomplete, 0);
      assertEquals(final.prefixes, 1 + 1 + 5);
      const target = `${await dirs.make()}/restored`;
      await spareExpect(0, ["restore", "--path", target], env);
      assertEquals(await describeTree(target), await describeTree(src));
      await dirs.removeAll();
    },
  });
}

Deno.test({
  name: "kill -9 between upload and prune, then unlock and create: old prefixes are pruned",
  ...options,
  fn: async () => {
    const dirs = new TempDirs();
    const env = cliEnv("killprune");
    const src = await makeSource(dirs);
    await spareExpect(0, ["create", "--path", src], env);
    await Deno.writeFile(`${src}/big.bin`, pseudoRandom(3 * 1024 * 1024, 99));
    await killWhenStalled(env, src, /^POST [^ ]*\?delete/);
    assertEquals(
      (await bucketState(env)).snapshots,
      2,
      "the new snapshot was written, nothing pruned",
    );
    const final = await unlockCreateVerify(env, src);
    assertEquals(final.snapshots, 1);
    assertEquals(final.prefixes, 1 + 1 + 5);
    await dirs.removeAll();
  },
});

Deno.test({
  name: "a second SIGINT abandons the requests in flight: exit 130 at once, lock released",
  ...options,
  fn: async () => {
    const dirs = new TempDirs();
    const env = cliEnv("twice");
    const src = await makeSource(dirs);
    const proxy = FaultProxy.start(env.SPARE_ENDPOINT);
    proxy.rules.stallWhen = /^PUT [^ ]*\/000000002-/; // this upload never gets an answer
    const child = spareCommand(["create", "--path", src], {
      ...passThroughEnv(),
      ...env,
      SPARE_ENDPOINT: proxy.endpoint,
    }).spawn();
    await waitFor("the stalled upload", () => proxy.faults > 0);
    child.kill("SIGINT");
    await new Promise((r) => setTimeout(r, 500));
    const secondAt = Date.now();
    child.kill("SIGINT");
    const output = await child.output();
    const stderr = new TextDecoder().decode(output.stderr);
    await proxy.close();
    assertEquals(output.code, 130, stderr);
    assert(Date.now() - secondAt < 15_000, "it did not wait for the request timeout");
    assertStringIncludes(stderr, "second signal");
    const after = await bucketState(env);
    assertEquals(after.locked, false);
    assertEquals(after.snapshots, 0);
    await spareExpect(0, ["create", "--path", src], env);
    await spareExpect(0, ["verify"], env);
    await dirs.removeAll();
  },
});
