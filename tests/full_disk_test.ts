/**
 * Issue 29: a restore into a file system that fills up ends with one line naming the target,
 * what was being written and what the snapshot still needs, then `--resume` completes it
 * once there is room. Runs on a small tmpfs: needs root and `mount`; skipped otherwise.
 */
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { spare, spareExpect } from "./cli.ts";
import { integration } from "./integration.ts";
import { pseudoRandom } from "./tree.ts";

const KIB = 1024;

async function run(cmd: string, args: string[]): Promise<{ ok: boolean; text: string }> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
    const dec = new TextDecoder();
    return { ok: out.success, text: (dec.decode(out.stdout) + dec.decode(out.stderr)).trim() };
  } catch (err) {
    return { ok: false, text: String(err) };
  }
}

/** Mounts a tmpfs of `size` at `dir`. */
function mountTmpfs(dir: string, size: string) {
  return run("mount", ["-t", "tmpfs", "-o", `size=${size},mode=0700`, "tmpfs", dir]);
}

/** Why a tmpfs cannot be mounted here, or undefined when it can. */
async function tmpfsProblem(): Promise<string | undefined> {
  if (Deno.uid() !== 0) return "not root";
  const dir = await Deno.makeTempDir({ prefix: "spare-tmpfs-probe-" });
  try {
    const mounted = await mountTmpfs(dir, "64k");
    if (!mounted.ok) return `mount -t tmpfs failed: ${mounted.text}`;
    await run("umount", [dir]);
    return undefined;
  } finally {
    await Deno.remove(dir).catch(() => {});
  }
}

const problem = await tmpfsProblem();
const NAME = "restore: a full disk is one line naming the target, the path and what is still " +
  "needed; --resume completes it once there is room";

if (problem) {
  Deno.test({ name: `${NAME} (skipped: ${problem})`, ignore: true, fn() {} });
} else {
  integration(NAME, async ({ env, dirs }) => {
    const src = await dirs.make();
    await Deno.mkdir(`${src}/a`);
    // Incompressible, so that the restore, not the upload, is what needs room.
    await Deno.writeFile(`${src}/a/one.bin`, pseudoRandom(700 * KIB, 1));
    await Deno.writeFile(`${src}/a/two.bin`, pseudoRandom(700 * KIB, 2));
    await Deno.writeTextFile(`${src}/small.txt`, "small\n");
    await spareExpect(0, ["create", "--path", src], env);

    const dst = await dirs.make();
    const mounted = await mountTmpfs(dst, "1m");
    assert(mounted.ok, mounted.text);
    try {
      const full = await spare(["restore", "--path", dst], env);
      assertEquals(full.code, 1, full.stderr);
      const errors = full.stderr.split("\n").filter((line) => line.startsWith("error:"));
      assertEquals(errors.length, 1, full.stderr);
      assertStringIncludes(errors[0], `cannot restore into ${dst}: no space is left`);
      assertStringIncludes(errors[0], "(writing a/");
      assertStringIncludes(errors[0], "the snapshot still needs");
      assertStringIncludes(errors[0], "--resume");
      assert(!full.stderr.includes("unexpected failure"), full.stderr);

      const grown = await run("mount", ["-o", "remount,size=4m", dst]);
      assert(grown.ok, grown.text);
      await spareExpect(0, ["restore", "--resume", "--path", dst], env);
      assertEquals(await Deno.readFile(`${dst}/a/one.bin`), pseudoRandom(700 * KIB, 1));
      assertEquals(await Deno.readFile(`${dst}/a/two.bin`), pseudoRandom(700 * KIB, 2));
      assertEquals(await Deno.readTextFile(`${dst}/small.txt`), "small\n");
    } finally {
      await run("umount", [dst]);
    }
  });
}
