/**
 * Issue 28, through the CLI against the real server: file names and link texts that are not
 * UTF-8 are backed up and restored byte for byte, shown as `\xNN`, matched by patterns
 * written the same way; a valid name holding U+FFFD stays apart from one holding the byte FF.
 * The trees are made and compared by the shell and find(1), which see names as bytes.
 */
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { cliEnv, hasServer, spare, spareExpect } from "./cli.ts";
import { openBucket, rawSnapshot, TempDirs } from "./tree.ts";
import { entry, SnapshotBuilder, writeSnapshot } from "./snapshot_writer.ts";

const options = { ignore: !hasServer, sanitizeResources: false, sanitizeOps: false };

/** Runs a shell script with `dir` as $1 (and as the working directory); throws unless it exits 0. */
async function sh(script: string, dir: string): Promise<Uint8Array> {
  const out = await new Deno.Command("/bin/sh", {
    args: ["-c", script, "sh", dir],
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) {
    throw new Error(`sh exited ${out.code}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return out.stdout;
}

/**
 * Every path under `root` as find(1) sees it, the bytes of names and link texts kept (as
 * Latin-1 text): path, type, mode, size of files, link text; and the content of each file.
 */
async function byteListing(root: string): Promise<string[]> {
  const raw = await sh(
    "export LC_ALL=C; find . -mindepth 1 -printf '%P|%y|%m|%s|%l\\0' | sort -z; " +
      "find . -type f -print0 | sort -z | xargs -0 -r sha256sum -z --",
    root,
  );
  const text = Array.from(raw, (b) => String.fromCharCode(b)).join("");
  return text.split("\0").filter((line) => line !== "").map((line) =>
    line.replace(/^([^|]*\|d\|[0-7]+\|)\d+/, "$1-") // a directory's size is the file system's
  );
}

/**
 * The tree (names in printf's octal escapes): Latin-1 file and directory names, files under
 * such a directory, a hardlink, symlinks to and with such names, `a\xef\xbf\xbd.txt` (a
 * valid U+FFFD) beside `a\xff.txt`, and UTF-8 names.
 */
const MAKE_TREE = `
set -e
n() { printf "$1"; }
printf 'latin1 file\\n' > "$(n '\\377\\376-latin1-\\351.txt')"
mkdir "$(n 'dir-\\344')" "$(n 'dir-\\344/sub-\\374')"
printf 'inner\\n' > "$(n 'dir-\\344/inner-\\366.txt')"
printf 'ok\\n' > "$(n 'dir-\\344/ok.txt')"
printf 'deep\\n' > "$(n 'dir-\\344/sub-\\374/deep.txt')"
: > "$(n 'empty-\\240')"
ln "$(n '\\377\\376-latin1-\\351.txt')" "$(n 'dir-\\344/hard-\\345')"
ln -s "$(n '\\377\\376-latin1-\\351.txt')" link-to-latin1
ln -s "$(n 'dir-\\344/ok.txt')" "$(n 'link-\\351')"
printf 'valid replacement character\\n' > "$(n 'a\\357\\277\\275.txt')"
printf 'byte ff\\n' > "$(n 'a\\377.txt')"
printf 'utf-8\\n' > "$(n 'utf8-\\303\\274n\\303\\257.txt')"
printf 'back\\\\slash\\n' > 'back\\slash'
chmod 0600 "$(n 'dir-\\344/inner-\\366.txt')"
chmod 0750 "$(n 'dir-\\344')"
`;

Deno.test({
  name: "names that are not UTF-8: create, restore byte for byte; ls, cat, diff, --include",
  ...options,
  async fn() {
    const dirs = new TempDirs();
    const env = cliEnv("names");
    try {
      const src = await dirs.make();
      await sh(MAKE_TREE, src);
      const create = await spareExpect(0, ["create", "--path", src], env);
      assertEquals(create.stderr, "");

      // Stored as 0.4.0 stores them: U+DC80+byte, which JSON writes as \\udcXX.
      const { store, close } = openBucket(env);
      try {
        const snapshot = await rawSnapshot(store, env.SPARE_BUCKET, env.SPARE_PASSWORD);
        // Relative links go to our own `symlinks` field (0.4.0 cannot restore them).
        const structure = {
          ...snapshot.structure as object,
          ...snapshot.symlinks as object,
        } as Record<
          string,
          Record<string, unknown>
        >;
        assert(structure["\udcff\udcfe-latin1-\udce9.txt"], "the Latin-1 name is stored");
        assert(structure["dir-\udce4/sub-\udcfc/deep.txt"], "the nested name is stored");
        assert(structure["a\uFFFD.txt"] && structure["a\udcff.txt"], "both a\\uFFFD and a\\xff");
        assertEquals(structure["link-to-latin1"].link, "\udcff\udcfe-latin1-\udce9.txt");
        assertEquals(structure["link-to-latin1"].target, "\udcff\udcfe-latin1-\udce9.txt");
      } finally {
        close();
      }

      const all = await dirs.make();
      const restore = await spareExpect(0, ["restore", "--path", all], env);
      assertEquals(restore.stderr, "");
      const want = await byteListing(src);
      assertEquals(await byteListing(all), want);
      assert(want.some((l) => l.startsWith("\xff\xfe-latin1-\xe9.txt|f|")), want.join("\n"));
      assert(
        want.some((l) =>
          l.startsWith("link-to-latin1|l|777|") && l.endsWith("|\xff\xfe-latin1-\xe9.txt")
        ),
      );
      // The hardlink came back as a hardlink.
      const inodes = await sh(
        `stat -c %i "$(printf '\\377\\376-latin1-\\351.txt')" "$(printf 'dir-\\344/hard-\\345')"`,
        all,
      );
      const [a, b] = new TextDecoder().decode(inodes).trim().split("\n");
      assertEquals(a, b);

      // ls shows the bytes as \\xNN, a backslash doubled; the two a….txt apart.
      const ls = await spareExpect(0, ["ls"], env);
      for (
        const shown of [
          "\\xff\\xfe-latin1-\\xe9.txt",
          "dir-\\xe4/inner-\\xf6.txt",
          "dir-\\xe4/sub-\\xfc/deep.txt",
          "link-to-latin1 -> \\xff\\xfe-latin1-\\xe9.txt",
          "link-\\xe9 -> dir-\\xe4/ok.txt",
          "a\uFFFD.txt",
          "a\\xff.txt",
          "utf8-ünï.txt",
          "back\\\\slash",
        ]
      ) assertStringIncludes(ls.stdout, shown);
      const json = JSON.parse((await spareExpect(0, ["ls", "--json", "dir-\\xe4/**"], env)).stdout);
      assertEquals(json.map((e: { path: string }) => e.path), [
        "dir-\\xe4/hard-\\xe5",
        "dir-\\xe4/inner-\\xf6.txt",
        "dir-\\xe4/ok.txt",
        "dir-\\xe4/sub-\\xfc",
        "dir-\\xe4/sub-\\xfc/deep.txt",
      ]);

      // cat reaches each file by its shown name.
      assertEquals(
        (await spareExpect(0, ["cat", "\\xff\\xfe-latin1-\\xe9.txt"], env)).stdout,
        "latin1 file\n",
      );
      assertEquals((await spareExpect(0, ["cat", "a\\xff.txt"], env)).stdout, "byte ff\n");
      assertEquals(
        (await spareExpect(0, ["cat", "a\uFFFD.txt"], env)).stdout,
        "valid replacement character\n",
      );
      assertEquals((await spareExpect(0, ["cat", "back\\\\slash"], env)).stdout, "back\\slash\n");

      // restore --include takes the directory with everything under it, byte for byte.
      const part = await dirs.make();
      await spareExpect(0, [
        "restore",
        "--path",
        part,
        "--include",
        "dir-\\xe4",
        "--include",
        "a\\xff.txt",
      ], env);
      assertEquals(
        await byteListing(part),
        want.filter((l) =>
          /^(dir-\xe4(\/|\|)|a\xff\.txt\|)/.test(l) || / \.\/(dir-\xe4\/|a\xff\.txt$)/.test(l)
        ),
      );

      // --resume over the complete restore checks every file (opened by its bytes) and
      // changes nothing.
      await spareExpect(0, ["restore", "--path", all, "--resume"], env);
      assertEquals(await byteListing(all), want);

      // A change to a Latin-1 file shows in diff (its name shown), and a second create
      // reuses the others' digests unread.
      await sh(`printf 'changed\\n' >> "$(printf '\\377\\376-latin1-\\351.txt')"`, src);
      await spareExpect(0, ["create", "--path", src, "--keep", "2"], env);
      const diff = await spareExpect(0, ["diff"], env);
      assertStringIncludes(diff.stdout, "M  \\xff\\xfe-latin1-\\xe9.txt");
      assertStringIncludes(diff.stdout, "M  dir-\\xe4/hard-\\xe5");
      await spareExpect(0, ["verify"], env);
    } finally {
      await dirs.removeAll();
    }
  },
});

Deno.test({
  name: "a path that cannot be read is named and skipped, and create exits 3",
  ...options,
  async fn() {
    const dirs = new TempDirs();
    const env = cliEnv("names");
    try {
      const src = await dirs.make();
      // Deeper than PATH_MAX (4096 bytes): the deepest directories cannot be read by path
      // (ENAMETOOLONG). mkdir -p makes them one level at a time.
      await sh(
        `set -e; printf 'ok\\n' > ok.txt; p=
        for i in $(seq 17); do p="$p$(printf 'd%.0s' $(seq 250))/"; done; mkdir -p "$p"`,
        src,
      );
      const create = await spare(["create", "--path", src], env);
      assertEquals(create.code, 3, create.stderr);
      assertStringIncludes(create.stderr, "cannot be read");
      assert(!create.stderr.includes("unexpected"), create.stderr);
      assertEquals((await spareExpect(0, ["cat", "ok.txt"], env)).stdout, "ok\n");
    } finally {
      await dirs.removeAll();
    }
  },
});

Deno.test({
  name: "escapes in a hostile snapshot smuggle no `..`, `/` or malformed text; the rest restores",
  ...options,
  async fn() {
    const dirs = new TempDirs();
    const env = cliEnv("names");
    try {
      const parent = await dirs.make();
      const target = `${parent}/target`;
      const b = new SnapshotBuilder();
      await b.file("\u00e9.txt", "e acute\n");
      await b.file("ok-\udcff.txt", "byte ff\n");
      const refused = [
        "\udc2e\udc2e/escape.txt", // `..` as escaped ASCII bytes
        "a\udc2fb.txt", // `/`
        "lone-\ud800.txt", // a surrogate outside U+DC80..U+DCFF
        "\udcc3\udca9.txt", // escaped bytes that are UTF-8: `é.txt` again
      ];
      for (const path of refused) await b.file(path, "must not be written\n");
      b.put("sl", entry("symlink", { target: "\udc2e\udc2e", link: "\udc2e\udc2e" }));
      await writeSnapshot(env, b);
      const restore = await spare(["restore", "--path", target], env);
      assertEquals(restore.code, 1, restore.stderr);
      for (
        const [shown, reason] of [
          ["\\uDC2E\\uDC2E/escape.txt", "escaped ASCII byte"],
          ["a\\uDC2Fb.txt", "escaped ASCII byte"],
          ["lone-\\uD800.txt", "lone surrogate U+D800"],
          ["\\xc3\\xa9.txt", "valid UTF-8"],
          ["sl", "its target is not a link text"],
        ]
      ) {
        assert(
          restore.stderr.split("\n").some((l) =>
            l.includes(`refused ${shown}`) && l.includes(reason)
          ),
          `${shown}: ${reason}\n${restore.stderr}`,
        );
      }
      assert(!/^\s+at /m.test(restore.stderr), restore.stderr);
      // Only the two honest files, under their bytes; nothing beside the target.
      assertEquals(await byteListing(parent), [
        "target/ok-\xff.txt|f|644|8|",
        "target/\xc3\xa9.txt|f|644|8|",
        "target|d|755|-|",
        `${await sha256("byte ff\n")}  ./target/ok-\xff.txt`,
        `${await sha256("e acute\n")}  ./target/\xc3\xa9.txt`,
      ]);
    } finally {
      await dirs.removeAll();
    }
  },
});

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}
