/** FileReader on real files: block sizes, digests, files that change while they are read. */
import { assertEquals, assertRejects, assertThrows } from "./assert.ts";
import { BLOCK_SIZE } from "../lib/codec/block.ts";
import { digestOf } from "../lib/util/digest.ts";
import { FileChangedError, FileReader, NotRegularFileError } from "../lib/backup/file_reader.ts";
import { concatBytes } from "../lib/util/bytes.ts";
import { pseudoRandom } from "./tree.ts";

async function inTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "spare-reader-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a file is read in 1 MiB blocks, the last one short, and hashes to its digest", async () => {
  await inTempDir(async (dir) => {
    const sizes = [0, 1, 4096, BLOCK_SIZE - 1, BLOCK_SIZE, BLOCK_SIZE + 1, 2 * BLOCK_SIZE + 5];
    for (const size of sizes) {
      const data = pseudoRandom(size, size + 1);
      const path = `${dir}/${size}`;
      await Deno.writeFile(path, data);
      const reader = await FileReader.open(path);
      try {
        const blocks: number[] = [];
        const read: Uint8Array[] = [];
        for await (const block of reader.blocks()) {
          blocks.push(block.length);
          read.push(block);
        }
        const expected: number[] = [];
        for (let at = 0; at < size; at += BLOCK_SIZE) {
          expected.push(Math.min(BLOCK_SIZE, size - at));
        }
        assertEquals(blocks, expected, `${size} bytes`);
        assertEquals(concatBytes(read), data, `${size} bytes`);
        assertEquals(reader.finish(), await digestOf(data), `${size} bytes`);
      } finally {
        reader.close();
      }
    }
  });
});

Deno.test("a file that grows or shrinks after it was opened is refused, not read short", async () => {
  await inTempDir(async (dir) => {
    for (const [size, change] of [[0, 10], [4096, 10], [BLOCK_SIZE + 100, 10], [4096, -10]]) {
      const path = `${dir}/${size}${change}`;
      await Deno.writeFile(path, pseudoRandom(size, 9));
      const reader = await FileReader.open(path);
      try {
        if (change > 0) await Deno.writeFile(path, pseudoRandom(change, 10), { append: true });
        else await Deno.truncate(path, size + change);
        for await (const _ of reader.blocks()) { /* read it all */ }
        assertThrows(() => reader.finish(), FileChangedError);
      } finally {
        reader.close();
      }
    }
  });
});

Deno.test("a path that is no longer a regular file is refused before it is read", async () => {
  // a device where the scan saw a file: opened without blocking, refused by its type
  await assertRejects(() => FileReader.open("/dev/zero"), NotRegularFileError);
  await inTempDir(async (dir) => {
    // (a FIFO is tried in changing_test.ts, in a run that is killed should it wait)
    await Deno.mkdir(`${dir}/folder`);
    await assertRejects(() => FileReader.open(`${dir}/folder`), NotRegularFileError);
  });
});

Deno.test("a symlink put where the scan saw a file is refused, not followed", async () => {
  await inTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/target`, "elsewhere\n");
    await Deno.symlink(`${dir}/target`, `${dir}/link`);
    await assertRejects(() => FileReader.open(`${dir}/link`), NotRegularFileError);
  });
});

Deno.test("without --allow-ffi a file is read through Deno's own calls", async () => {
  await inTempDir(async (dir) => {
    const data = pseudoRandom(BLOCK_SIZE + 3, 11);
    await Deno.writeFile(`${dir}/file`, data);
    const script = new URL("./read_file_digest.ts", import.meta.url).pathname;
    for (const flags of [["--allow-read"], ["--allow-read", "--allow-ffi"]]) {
      const output = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--quiet", "--no-prompt", ...flags, script, `${dir}/file`],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(output.stderr);
      assertEquals(output.code, 0, `${flags.join(" ")}: ${stderr}`);
      assertEquals(new TextDecoder().decode(output.stdout).trim(), await digestOf(data));
    }
  });
});
