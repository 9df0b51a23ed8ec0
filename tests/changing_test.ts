/** Issue 4: files that change while being read, and two runs at the same moment. */
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { cliEnv, hasServer, passThroughEnv, spare, spareCommand, spareExpect } from "./cli.ts";
import { FaultProxy } from "./fault_proxy.ts";
import { describeTree, pseudoRandom, TempDirs } from "./tree.ts";

const options = { ignore: !hasServer, sanitizeResources: false, sanitizeOps: false };

/** Appends to `path` without pause until stopped: no read of it can be consistent. */
function keepChanging(path: string): { stop(): Promise<void> } {
  const child = new Deno.Command("bash", {
    args: [
      "-c",
      `while :; do echo x >> "${path}"; done`,
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  return {
    async stop() {
      child.kill("SIGKILL");
      await child.status;
      await Deno.remove(`${path}.tmp`).catch(() => {});
    },
  };
}

Deno.test({
  name: "a file that keeps changing is left out with a warning, exit 3, and the rest is backed up",
  ...options,
  fn: async () => {
    const dirs = new TempDirs();
    const env = cliEnv("changing");
    const src = await dirs.make();
    await Deno.writeTextFile(`${src}/stable.txt`, "stable\n");
    await Deno.writeFile(`${src}/busy.bin`, pseudoRandom(2621440, 5));
    const writer = keepChanging(`${src}/busy.bin`);
    await new Promise((r) => setTimeout(r, 200));
    const result = await spare(["create", "--path", src], env);
    await writer.stop();
    assertEquals(result.code, 3, result.stderr);
    assertStringIncludes(result.stderr, "busy.bin");
    assertStringIncludes(result.stderr, "kept changing");
    assertStringIncludes(result.stderr, "left out");
    await spareExpect(0, ["verify"], env);
    const target = `${await dirs.make()}/t`;
    await spareExpect(0, ["restore", "--path", target], env);
    const restored = await describeTree(target);
    assertEquals(Object.keys(restored), ["stable.txt"]);
    await dirs.removeAll();
  },
});

Deno.test({
  name: "a file that keeps changing keeps its previous version when there is one",
  ...options,
  fn: async () => {
    const dirs = new TempDirs();
    const env = cliEnv("changing2");
    const src = await dirs.make();
    const first = pseudoRandom(2621440, 6);
    await Deno.writeFile(`${src}/busy.bin`, first);
    await spareExpect(0, ["create", "--path", src], env);
    const writer = keepChanging(`${src}/busy.bin`);
    await new Promise((r) => setTimeout(r, 200));
    const result = await spare(["create", "--path", src], env);
    await writer.stop();
    assertEquals(result.code, 3, result.stderr);
    assertStringIncludes(result.stderr, "keeping its previous version");
    await spareExpect(0, ["verify"], env);
    const target = `${await dirs.make()}/t`;
    await spareExpect(0, ["restore", "--path", target], env);
    assertEquals(await Deno.readFile(`${target}/busy.bin`), first);
    await dirs.removeAll();
  },
});

Deno.test({
  name: "two creates started at the same moment: exactly one succeeds, the other names the holder",
  ...options,
  fn: async () => {
    const dirs = new TempDirs();
    const env = cliEnv("race");
    const src = await dirs.make();
    await Deno.writeFile(`${src}/a.bin`, pseudoRandom(3 * 1024 * 1024, 8));
    await spareExpect(0, ["lock"], env); // creates the bucket
    await spareExpect(0, ["unlock"], env);
    const proxy = FaultProxy.start(env.SPARE_ENDPOINT);
    proxy.rules.delayMs = 5; // keep the winner busy while the loser tries
    const viaProxy = { ...env, SPARE_ENDPOINT: proxy.endpoint };
    const results = await Promise.all([
      spare(["create", "--path", src], viaProxy),
      spare(["create", "--path", src], viaProxy),
    ]);
    await proxy.close();
    const codes = results.map((r) => r.code).sort();
    assertEquals(codes, [0, 1], results.map((r) => r.stderr).join("\n"));
    const loser = results.find((r) => r.code === 1)!;
    assert(
      /bucket \S+ is locked by \S+ pid \d+ since \d{4}-\d\d-\d\dT/.test(loser.stderr),
      loser.stderr,
    );
    await spareExpect(0, ["verify"], env);
    await dirs.removeAll();
  },
});

Deno.test({
  name: "a file that vanishes during the run is skipped with a warning, exit 0",
  ...options,
  fn: async () => {
    const dirs = new TempDirs();
    const env = cliEnv("vanish");
    const src = await dirs.make();
    for (let i = 0; i < 8; i++) {
      await Deno.writeFile(`${src}/a${i}.bin`, pseudoRandom(1_000_000, i + 1));
    }
    // larger than 64 KiB: it queues behind the other large files (small ones start at once)
    await Deno.writeFile(`${src}/z-last.txt`, pseudoRandom(100_000, 99));
    const proxy = FaultProxy.start(env.SPARE_ENDPOINT);
    proxy.rules.delayMs = 30; // uploads of the first files take a while
    const child = spareCommand(["create", "--path", src], {
      ...passThroughEnv(),
      ...env,
      SPARE_ENDPOINT: proxy.endpoint,
    }).spawn();
    while (!proxy.requests.some((r) => /^PUT [^ ]*\/000000001-/.test(r))) {
      await new Promise((r) => setTimeout(r, 10));
    }
    await Deno.remove(`${src}/z-last.txt`);
    const output = await child.output();
    await proxy.close();
    const stderr = new TextDecoder().decode(output.stderr);
    assertEquals(output.code, 0, stderr);
    assertStringIncludes(stderr, "warning: z-last.txt vanished during the backup, skipped");
    const target = `${await dirs.make()}/t`;
    await spareExpect(0, ["restore", "--path", target], env);
    assertEquals((await describeTree(target))["z-last.txt"], undefined);
    assertEquals(Object.keys(await describeTree(target)).length, 8);
    await dirs.removeAll();
  },
});

/**
 * Starts a create of a tree whose last file is read late (its uploads are slowed down), lets
 * `swap` replace that file once the first upload is under way, and returns the run's result;
 * a run still going after 60 s is killed and reported as hung.
 */
async function createWhileSwapping(
  bucket: string,
  swap: (path: string, dirs: TempDirs) => Promise<void>,
): Promise<{ code: number; stderr: string; hung: boolean; src: string; dirs: TempDirs }> {
  const dirs = new TempDirs();
  const env = cliEnv(bucket);
  const src = await dirs.make();
  for (let i = 0; i < 4; i++) {
    await Deno.writeFile(`${src}/a${i}.bin`, pseudoRandom(1_000_000, i + 1));
  }
  // larger than 64 KiB: it queues behind the other large files (small ones start at once)
  await Deno.writeFile(`${src}/z-last.txt`, pseudoRandom(100_000, 99));
  const proxy = FaultProxy.start(env.SPARE_ENDPOINT);
  proxy.rules.delayMs = 30;
  const child = spareCommand(["create", "--path", src], {
    ...passThroughEnv(),
    ...env,
    SPARE_ENDPOINT: proxy.endpoint,
  }).spawn();
  while (!proxy.requests.some((r) => /^PUT [^ ]*\/000000001-/.test(r))) {
    await new Promise((r) => setTimeout(r, 10));
  }
  await Deno.remove(`${src}/z-last.txt`);
  await swap(`${src}/z-last.txt`, dirs);
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    child.kill("SIGKILL");
  }, 60_000);
  const output = await child.output();
  clearTimeout(timer);
  await proxy.close();
  return { code: output.code, stderr: new TextDecoder().decode(output.stderr), hung, src, dirs };
}

Deno.test({
  name: "a FIFO put where the scan saw a file does not hang create: exit 3, the path named",
  ...options,
  fn: async () => {
    const run = await createWhileSwapping("fifo", async (path) => {
      const made = await new Deno.Command("mkfifo", { args: [path] }).output();
      assert(made.success);
    });
    assert(!run.hung, `create waited on the FIFO (killed after 60 s): ${run.stderr}`);
    assertEquals(run.code, 3, run.stderr);
    assertStringIncludes(run.stderr, "z-last.txt: it is no longer a regular file");
    await run.dirs.removeAll();
  },
});

Deno.test({
  name: "a symlink put where the scan saw a file is not followed: exit 3, the path named",
  ...options,
  fn: async () => {
    const run = await createWhileSwapping("swapped-link", async (path, dirs) => {
      const outside = `${await dirs.make()}/secret.txt`;
      await Deno.writeTextFile(outside, "not to be backed up\n");
      await Deno.symlink(outside, path);
    });
    assert(!run.hung, run.stderr);
    assertEquals(run.code, 3, run.stderr);
    // followed, the target would be read and then refused as "kept changing"
    assertStringIncludes(run.stderr, "z-last.txt: it is no longer a regular file");
    await run.dirs.removeAll();
  },
});
