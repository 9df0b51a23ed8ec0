/** Issue 6: what operators see: --json, snapshots, progress, quiet, secrets from files, scoped permissions. */
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { cliEnv, hasServer, passThroughEnv, spare, spareExpect, spareTaskFlags } from "./cli.ts";
import { describeTree, pseudoRandom, TempDirs } from "./tree.ts";

const options = { ignore: !hasServer, sanitizeResources: false, sanitizeOps: false };
const ROOT = new URL("../", import.meta.url).pathname;

async function sampleTree(dirs: TempDirs): Promise<{ src: string; files: number; bytes: number }> {
  const src = await dirs.make();
  await Deno.mkdir(`${src}/sub`);
  await Deno.writeTextFile(`${src}/a.txt`, "alpha\n".repeat(100));
  await Deno.writeTextFile(`${src}/sub/b.txt`, "beta\n");
  await Deno.writeFile(`${src}/sub/c.bin`, pseudoRandom(1_200_000, 4));
  await Deno.writeTextFile(`${src}/empty.txt`, "");
  return { src, files: 4, bytes: 600 + 5 + 1_200_000 };
}

Deno.test({
  name: "--json: create, restore and verify print one object whose figures match the tree",
  ...options,
  fn: async () => {
    const dirs = new TempDirs();
    const env = cliEnv("json");
    const { src, files, bytes } = await sampleTree(dirs);
    // Files changed within two seconds of a snapshot are read again by the next run.
    await new Promise((r) => setTimeout(r, 2100));
    const create = JSON.parse(
      (await spareExpect(0, ["create", "--path", src, "--json"], env)).stdout,
    );
    assertEquals(create.command, "create");
    assertEquals(create.result, "ok");
    assertEquals(create.filesTotal, files);
    assertEquals(create.bytesTotal, bytes);
    assertEquals(create.filesUploaded, 3);
    assertEquals(create.bytesUploaded, bytes);
    assert(create.bytesStored > 1_200_000, "random data is stored about as is");
    assert(/^[0-9A-Z]{26}$/.test(create.snapshot), create.snapshot);
    assertEquals(create.warnings, []);
    assert(typeof create.duration === "number");

    const again = JSON.parse(
      (await spareExpect(0, ["create", "--path", src, "--json"], env)).stdout,
    );
    assertEquals(again.filesUploaded, 0);
    assertEquals(again.filesReused, 3, "unchanged files are not read again");
    const rehash = JSON.parse(
      (await spareExpect(0, ["create", "--path", src, "--json", "--rehash"], env)).stdout,
    );
    assertEquals(rehash.filesReused, 0);
    assertEquals(rehash.filesUploaded, 0, "read again, but stored already");

    const target = `${await dirs.make()}/t`;
    const restore = JSON.parse(
      (await spareExpect(0, ["restore", "--path", target, "--json"], env)).stdout,
    );
    assertEquals(restore.command, "restore");
    assertEquals(restore.filesTotal, files);
    assertEquals(restore.bytesTotal, bytes);
    assertEquals(restore.snapshot, rehash.snapshot);
    const verify = JSON.parse((await spareExpect(0, ["verify", "--json"], env)).stdout);
    assertEquals(verify.result, "ok");
    assertEquals(verify.digestsChecked, 3);
    assertEquals(verify.bytesChecked, bytes);
    assertEquals(verify.problems, []);
    await dirs.removeAll();
  },
});

Deno.test({
  name: "a file changed in place with its size and mtime kept is read again",
  ...options,
  fn: async () => {
    const dirs = new TempDirs();
    const env = cliEnv("ctime");
    const src = await dirs.make();
    await Deno.writeTextFile(`${src}/f.txt`, "version one\n");
    const before = await Deno.stat(`${src}/f.txt`);
    await spareExpect(0, ["create", "--path", src], env);
    await new Promise((r) => setTimeout(r, 20));
    await Deno.writeTextFile(`${src}/f.txt`, "version two\n");
    await Deno.utime(`${src}/f.txt`, before.atime!, before.mtime!);
    const run = JSON.parse((await spareExpect(0, ["create", "--path", src, "--json"], env)).stdout);
    assertEquals(run.filesReused, 0);
    assertEquals(run.filesUploaded, 1);
    const target = `${await dirs.make()}/t`;
    await spareExpect(0, ["restore", "--path", target], env);
    assertEquals(await Deno.readTextFile(`${target}/f.txt`), "version two\n");
    await dirs.removeAll();
  },
});

Deno.test({
  name: "snapshots lists three snapshots after three creates with --keep 3, as lines and as JSON",
  ...options,
  fn: async () => {
    const dirs = new TempDirs();
    const env = cliEnv("snaps");
    const src = await dirs.make();
    for (let i = 1; i <= 4; i++) {
      await Deno.writeTextFile(`${src}/f${i}.txt`, `file ${i}\n`);
      await spareExpect(0, ["create", "--path", src, "--keep", "3"], env);
    }
    const lines = (await spareExpect(0, ["snapshots"], env)).stdout.trim().split("\n");
    assertEquals(lines.length, 3);
    const rows = JSON.parse((await spareExpect(0, ["snapshots", "--json"], env)).stdout);
    assertEquals(rows.map((r: { files: number }) => r.files), [2, 3, 4]);
    for (const [i, row] of rows.entries()) {
      assert(lines[i].startsWith(row.id), lines[i]);
      assert(Math.abs(Date.parse(row.created) - Date.now()) < 600_000, row.created);
      assertStringIncludes(row.identity, `:${src}:`);
    }
    assert(rows[0].id < rows[1].id && rows[1].id < rows[2].id, "oldest first");
    await dirs.removeAll();
  },
});

Deno.test({
  name:
    "progress: nothing when stderr is not a terminal, one updating line under a pseudo-terminal",
  ...options,
  fn: async () => {
    const dirs = new TempDirs();
    const env = cliEnv("progress");
    const { src } = await sampleTree(dirs);
    const plain = await spareExpect(0, ["create", "--path", src], env);
    assertEquals(plain.stderr, "");
    assertEquals(plain.stdout, "");
    await Deno.writeTextFile(`${src}/new.txt`, "new\n");
    const command = [
      Deno.execPath(),
      "run",
      "--quiet",
      ...spareTaskFlags(),
      `${ROOT}main.ts`,
      "create",
      "--path",
      src,
    ]
      .map((w) => `'${w}'`).join(" ");
    const output = await new Deno.Command("script", {
      args: ["-qec", command, "/dev/null"],
      env: { ...passThroughEnv(), ...env },
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(output.stdout);
    assertEquals(output.code, 0, text);
    assertStringIncludes(text, "\r\x1b[Kcreate: ");
    assert(
      /create: \d+\/5 files, [\d.]+\/[\d.]+ MiB, [\d.]+ MiB\/s, ETA /.test(text),
      JSON.stringify(text),
    );
    await dirs.removeAll();
  },
});

Deno.test({
  name: "warnings that lose nothing keep exit 0; --quiet silences them",
  ...options,
  fn: async () => {
    const dirs = new TempDirs();
    const env = cliEnv("quiet");
    const { src } = await sampleTree(dirs);
    const fifo = await new Deno.Command("mkfifo", { args: [`${src}/pipe`] }).output();
    assert(fifo.success);
    const loud = await spareExpect(0, ["create", "--path", src], env);
    assertStringIncludes(loud.stderr, "warning: pipe is a FIFO, skipped");
    const quiet = await spareExpect(0, ["create", "--path", src, "--quiet"], env);
    assertEquals(quiet.stderr, "");
    await dirs.removeAll();
  },
});

Deno.test({
  name: "secrets from files: --password-file, SPARE_PASSWORD_FILE and SPARE_SECRET_KEY_FILE",
  ...options,
  fn: async () => {
    const dirs = new TempDirs();
    const env = cliEnv("secrets");
    const { src } = await sampleTree(dirs);
    const secrets = await dirs.make();
    await Deno.writeTextFile(`${secrets}/password`, `${env.SPARE_PASSWORD}\nignored second line\n`);
    await Deno.writeTextFile(`${secrets}/secret`, `${env.SPARE_SECRET_KEY}\n`);
    const { SPARE_PASSWORD: _, SPARE_SECRET_KEY: __, ...bare } = env;
    await spareExpect(0, ["create", "--path", src, "--password-file", `${secrets}/password`], {
      ...bare,
      SPARE_SECRET_KEY_FILE: `${secrets}/secret`,
    });
    await spareExpect(0, ["verify"], {
      ...bare,
      SPARE_PASSWORD_FILE: `${secrets}/password`,
      SPARE_SECRET_KEY_FILE: `${secrets}/secret`,
    });
    const missing = await spare(["verify", "--password-file", `${secrets}/nope`], env);
    assertEquals(missing.code, 2);
    assertStringIncludes(missing.stderr, "cannot read --password-file");
    await dirs.removeAll();
  },
});

Deno.test({
  name: "create and restore work under the narrow permissions docs/OPERATIONS.md documents",
  ...options,
  fn: async () => {
    const dirs = new TempDirs();
    const env = cliEnv("narrow");
    const { src } = await sampleTree(dirs);
    const target = await dirs.make();
    const host = new URL(env.SPARE_ENDPOINT).host;
    const addon = `${ROOT}node_modules/.deno/lzma-native@8.0.6`;
    const narrow = (dir: string) =>
      spareTaskFlags().map((flag) => {
        if (
          flag === "--allow-read"
        ) return `--allow-read=${dir},/etc/passwd,/etc/group,/etc/alpine-release,${addon}`;
        if (flag === "--allow-write") return `--allow-write=${dir}`;
        if (flag === "--allow-net") return `--allow-net=${host}`;
        return flag;
      });
    await spareExpect(0, ["create", "--path", src], env, narrow(src));
    await spareExpect(0, ["restore", "--path", target], env, narrow(target));
    assertEquals(await describeTree(target), await describeTree(src));
    const outside = await spare(["create", "--path", src], env, narrow(target));
    assertEquals(outside.code, 1, "reading outside the granted path is refused");
    await dirs.removeAll();
  },
});

Deno.test({
  name: "deno task compile builds the executables or fails with one clear line per target",
  ignore: !hasServer,
  fn: async () => {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["task", "compile", "x86_64-unknown-linux-gnu"],
      cwd: ROOT,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    if (output.success) {
      const version = await new Deno.Command(`${ROOT}dist/spare-x86_64-unknown-linux-gnu`, {
        args: ["--version"],
      })
        .output();
      assertStringIncludes(new TextDecoder().decode(version.stdout), "bucket format 0.4.0");
    } else {
      assertEquals(output.code, 1);
      assertStringIncludes(stderr, "error: cannot build dist/spare-x86_64-unknown-linux-gnu");
      assert(!/^\s+at /m.test(stderr), stderr);
    }
  },
});
