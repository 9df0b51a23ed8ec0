/**
 * Issue 13: nothing that looks complete unless it is. An interrupted restore (kill -9,
 * SIGTERM, the server gone) leaves no file under its final name with wrong content; a plain
 * re-run names what is missing; `restore --resume` completes the restore.
 */
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import {
  type CliEnv,
  cliEnv,
  hasServer,
  passThroughEnv,
  spare,
  spareCommand,
  spareExpect,
  waitFor,
} from "./cli.ts";
import { FaultProxy } from "./fault_proxy.ts";
import { describeTree, hardlinkGroups, pseudoRandom, TempDirs } from "./tree.ts";

const options = { ignore: !hasServer, sanitizeResources: false, sanitizeOps: false };
const TEMPORARY = ".spare-tmp-";

/** Files of several blocks, small files, hardlinks, a copy, empty files, a symlink, modes. */
async function makeSource(dirs: TempDirs): Promise<string> {
  const src = await dirs.make();
  await Deno.writeFile(`${src}/big.bin`, pseudoRandom(5 * 1024 * 1024 + 77, 7));
  await Deno.mkdir(`${src}/docs/deep`, { recursive: true });
  for (let i = 0; i < 6; i++) {
    await Deno.writeTextFile(`${src}/docs/${i}.txt`, `doc ${i}\n`.repeat(200));
  }
  await Deno.writeTextFile(`${src}/docs/deep/same.txt`, "shared content\n");
  await Deno.link(`${src}/docs/deep/same.txt`, `${src}/docs/hard.txt`);
  await Deno.writeTextFile(`${src}/copy.txt`, "shared content\n");
  await Deno.chmod(`${src}/copy.txt`, 0o640);
  await Deno.writeFile(`${src}/empty`, new Uint8Array(0));
  await Deno.link(`${src}/empty`, `${src}/docs/empty-link`);
  await Deno.writeTextFile(`${src}/${TEMPORARY}is-a-real-file`, "backed up under this name\n");
  await Deno.symlink("docs/0.txt", `${src}/link`);
  await Deno.chmod(`${src}/docs/deep`, 0o750);
  return src;
}

/**
 * Fails unless every file under its final name in `target` has the content of the same path
 * in `src`; returns the final-named files and the temporary files found.
 */
async function assertNothingWrong(target: string, src: string) {
  const source = await describeTree(src);
  const finals: string[] = [];
  const temporaries: string[] = [];
  for (const [path, entry] of Object.entries(await describeTree(target))) {
    if (entry.type !== "file") continue;
    const name = path.slice(path.lastIndexOf("/") + 1);
    if (name.startsWith(TEMPORARY) && !source[path]) {
      temporaries.push(path);
      continue;
    }
    assertEquals(entry.sha256, source[path]?.sha256, `${path} under its final name`);
    finals.push(path);
  }
  return { finals, temporaries };
}

/** A plain re-run refuses, names a missing file and says --resume; --resume completes. */
async function resumeAndCompare(env: CliEnv, target: string, src: string, kept: number) {
  const again = await spareExpect(1, ["restore", "--path", target], env);
  assertStringIncludes(again.stderr, "are missing from it");
  assertStringIncludes(again.stderr, "big.bin");
  assertStringIncludes(again.stderr, "--resume");
  const resumed = await spareExpect(0, ["restore", "--path", target, "--resume", "--json"], env);
  const result = JSON.parse(resumed.stdout);
  assertEquals(result.filesKept, kept, "every intact file was kept");
  assertEquals(await describeTree(target), await describeTree(src));
  assertEquals(await hardlinkGroups(target), await hardlinkGroups(src));
}

for (const signal of ["SIGKILL", "SIGTERM"] as const) {
  Deno.test({
    name:
      `${signal} in the middle of a restore: no final name with wrong content; --resume completes`,
    ...options,
    fn: async () => {
      const dirs = new TempDirs();
      const env = cliEnv("resume");
      const src = await makeSource(dirs);
      await spareExpect(0, ["create", "--path", src], env);
      const target = `${await dirs.make()}/target`;
      const proxy = FaultProxy.start(env.SPARE_ENDPOINT);
      if (signal === "SIGKILL") {
        proxy.rules.stallWhen = /^GET [^ ]*\/000000004-/; // big.bin's fourth block never comes
      } else {
        proxy.rules.delayMs = 40; // a slow link: SIGTERM lets the requests in flight finish
      }
      const child = spareCommand(["restore", "--path", target], {
        ...passThroughEnv(),
        ...env,
        SPARE_ENDPOINT: proxy.endpoint,
      }).spawn();
      await waitFor(
        "big.bin's download",
        () => proxy.faults > 0 || proxy.requests.some((r) => /^GET [^ ]*\/000000002-/.test(r)),
      );
      await new Promise((r) => setTimeout(r, 1500)); // some small files finish meanwhile
      child.kill(signal);
      const output = await child.output();
      await proxy.close();
      assertEquals(output.code, signal === "SIGKILL" ? 137 : 143);
      const { finals, temporaries } = await assertNothingWrong(target, src);
      assert(!finals.includes("big.bin"), "big.bin was not complete");
      if (signal === "SIGKILL") {
        assert(temporaries.length > 0, "big.bin was being written under a temporary name");
        await spareExpect(0, ["unlock"], env);
      } else {
        assertEquals(temporaries, [], "a signalled restore removes its temporary files");
        assertStringIncludes(new TextDecoder().decode(output.stderr), "--resume");
      }
      await resumeAndCompare(env, target, src, finals.length);
      await dirs.removeAll();
    },
  });
}

Deno.test({
  name: "the server gone in the middle of a restore: nothing wrong in place; --resume completes",
  ...options,
  fn: async () => {
    const dirs = new TempDirs();
    const env = cliEnv("resumenet");
    const src = await makeSource(dirs);
    await spareExpect(0, ["create", "--path", src], env);
    const target = `${await dirs.make()}/target`;
    const proxy = FaultProxy.start(env.SPARE_ENDPOINT);
    proxy.rules.resetWhen = /^GET [^ ]*\/000000003-/;
    proxy.rules.downAfterReset = true;
    const result = await spare(["restore", "--path", target, "--timeout", "2"], {
      ...env,
      SPARE_ENDPOINT: proxy.endpoint,
    });
    await proxy.close();
    assertEquals(result.code, 1, result.stderr);
    assertStringIncludes(result.stderr, "is incomplete");
    const { finals, temporaries } = await assertNothingWrong(target, src);
    assertEquals(temporaries, [], "a failed restore removes its temporary files");
    await spareExpect(0, ["unlock"], env); // the lock could not be released
    await resumeAndCompare(env, target, src, finals.length);
    await dirs.removeAll();
  },
});

Deno.test({
  name:
    "--resume replaces what differs (never writing through a symlink), removes temporary files, keeps the rest",
  ...options,
  fn: async () => {
    const dirs = new TempDirs();
    const env = cliEnv("resumefix");
    const src = await makeSource(dirs);
    await spareExpect(0, ["create", "--path", src], env);
    const parent = await dirs.make();
    const target = `${parent}/target`;
    await spareExpect(0, ["restore", "--path", target], env);
    const victim = `${parent}/victim.txt`;
    await Deno.writeTextFile(victim, "outside the target\n");
    // same size, other bytes; a symlink where a file was; a hardlink gone; a leftover
    const doc = await Deno.readTextFile(`${target}/docs/1.txt`);
    await Deno.writeTextFile(`${target}/docs/1.txt`, doc.replace("doc 1", "DOC 1"));
    await Deno.remove(`${target}/docs/2.txt`);
    await Deno.symlink(victim, `${target}/docs/2.txt`);
    await Deno.remove(`${target}/docs/hard.txt`);
    await Deno.writeTextFile(`${target}/docs/${TEMPORARY}0123456789abcdef`, "partial");
    await Deno.chmod(`${target}/docs/deep`, 0o500);

    const plain = await spareExpect(1, ["restore", "--path", target], env);
    assertStringIncludes(plain.stderr, "docs/hard.txt");
    assertStringIncludes(plain.stderr, "partly written");
    const resumed = await spareExpect(0, ["restore", "--path", target, "--resume", "--json"], env);
    assertStringIncludes(resumed.stderr, "differed from the snapshot and were replaced");
    assertStringIncludes(resumed.stderr, "docs/1.txt");
    assertEquals(await Deno.readTextFile(victim), "outside the target\n");
    assertEquals(await describeTree(target), await describeTree(src));
    assertEquals(await hardlinkGroups(target), await hardlinkGroups(src));
    const result = JSON.parse(resumed.stdout);
    assert(result.bytesDownloaded < 1024 * 1024, "big.bin was kept, not downloaded again");

    const complete = await spareExpect(1, ["restore", "--path", target], env);
    assertStringIncludes(complete.stderr, "holds every path of snapshot");
    await dirs.removeAll();
  },
});
