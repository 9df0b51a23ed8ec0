/**
 * Keeps docs/FORMAT.md true. A small reader written from that page alone (its key patterns,
 * block size, tables of fields; SHA-512 or scrypt, AES-SIV with the associated data
 * ["", nonce], .xz through the `xz` command, BLAKE2b-256 through hash-wasm; nothing of lib/)
 * decodes the buckets of the real 0.4.0 in tests/fixtures/ and compares them with the trees
 * they were made of, and decodes a bucket of spare's own (`create --kdf scrypt`, with links
 * that go to the `symlinks` field). The page must also name every key, field and limit the
 * code uses.
 */
import { scrypt } from "node:crypto";
import { blake2b } from "hash-wasm";
import { PolyfillCryptoProvider, SIV } from "miscreant";
import { assert, assertEquals } from "./assert.ts";
import { hasServer, spareExpect } from "./cli.ts";
import { fixtureDescription, fixtureNames, fixtureObjects } from "./fixture.ts";
import { integration, writeText } from "./integration.ts";
import { pseudoRandom } from "./tree.ts";

const DOC_PATH = new URL("../docs/FORMAT.md", import.meta.url);
const LIB = new URL("../lib/", import.meta.url);
const doc = Deno.readTextFileSync(DOC_PATH);

/** The text of section `title` (a `##` or `###` heading) up to the next heading of any level. */
function section(title: string): string {
  const start = doc.search(new RegExp(`^#{2,3} ${title}$`, "m"));
  assert(start >= 0, `FORMAT.md has no section "${title}"`);
  const rest = doc.slice(start).split("\n").slice(1).join("\n");
  const end = rest.search(/^#{2,3} /m);
  return end < 0 ? rest : rest.slice(0, end);
}

/** The rows of the first Markdown table in `text`: first cell (backticks removed) → cells. */
function tableRows(text: string): Map<string, string[]> {
  const rows = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    if (!line.startsWith("|") || /^\|\s*-/.test(line)) continue;
    const cells = line.split("|").slice(1, -1).map((c) => c.trim());
    const name = cells[0].match(/^`([^`]+)`$/)?.[1];
    if (name) rows.set(name, cells.slice(1));
  }
  return rows;
}

/** What the reader takes from the page. */
const FROM_DOC = (() => {
  const keys = section("Keys of a bucket");
  const blockKey = keys.match(/As a pattern: `([^`]+)`/)?.[1];
  const prefixName = keys.match(/\*\*Prefix names\*\* match `([^`]+)`/)?.[1];
  const blockBytes = section("A block's bytes").match(/blocks of \*\*([\d,]+) bytes\*\*/)?.[1];
  assert(blockKey && prefixName && blockBytes, "FORMAT.md lost a pattern or the block size");
  const [fieldTable, entryTable] = section("Snapshot metadata").split("An **entry** is an object:");
  assert(entryTable, "FORMAT.md lost the table of entry fields");
  const snapshotFields = tableRows(fieldTable);
  const entryFields = new Map(
    [...tableRows(entryTable)].map(([name, cells]) => [name, cells[0]]),
  );
  return {
    blockKey: new RegExp(blockKey),
    prefixName: new RegExp(prefixName),
    blockSize: Number(blockBytes.replaceAll(",", "")),
    snapshotFields: new Set(snapshotFields.keys()),
    entryFields,
  };
})();

/** A bucket as key → bytes. */
type Objects = Map<string, Uint8Array>;

/** Prefix → its block keys in block order, as the page says: index from 1, no gap. */
function groupBlocks(objects: Objects): Map<string, string[]> {
  const prefixes = new Map<string, { index: number; key: string }[]>();
  for (const key of objects.keys()) {
    if (key.startsWith(".")) continue;
    const match = FROM_DOC.blockKey.exec(key);
    assert(match, `${key} is not a block key as FORMAT.md writes it`);
    assert(FROM_DOC.prefixName.test(match[1]), `${match[1]} is not a prefix name`);
    const blocks = prefixes.get(match[1]) ?? [];
    blocks.push({ index: Number(match[2]), key });
    prefixes.set(match[1], blocks);
  }
  const out = new Map<string, string[]>();
  for (const [prefix, blocks] of prefixes) {
    blocks.sort((a, b) => a.index - b.index);
    assertEquals(blocks.map((b) => b.index), blocks.map((_, i) => i + 1), `blocks of ${prefix}`);
    out.set(prefix, blocks.map((b) => b.key));
  }
  return out;
}

/** The content of an .xz stream, by the `xz` command. */
async function unxz(data: Uint8Array): Promise<Uint8Array> {
  const child = new Deno.Command("xz", {
    args: ["--decompress", "--stdout", "--format=xz"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // read while writing: xz blocks on a full stdout pipe
  const output = child.output();
  const writer = child.stdin.getWriter();
  await writer.write(data);
  await writer.close();
  const { code, stdout, stderr } = await output;
  assertEquals(code, 0, `xz -d: ${new TextDecoder().decode(stderr)}`);
  return stdout;
}

/** A reader of one bucket, keyed as the page says. */
class Reader {
  private constructor(private readonly siv: SIV, readonly blocks: Map<string, string[]>) {}

  static async open(objects: Objects, password: string): Promise<Reader> {
    const secret = new TextEncoder().encode(password);
    const kdf = objects.get(".spare-kdf");
    let key: Uint8Array;
    if (kdf) {
      const settings = JSON.parse(new TextDecoder().decode(kdf));
      assertEquals(settings.kdf, "scrypt");
      const salt = Uint8Array.from(
        (settings.salt as string).match(/../g)!.map((h) => parseInt(h, 16)),
      );
      key = await new Promise((resolve, reject) =>
        scrypt(secret, salt, 64, { N: settings.N, r: settings.r, p: settings.p, maxmem: 2 ** 30 }, (
          err,
          out,
        ) => err ? reject(err) : resolve(new Uint8Array(out)))
      );
    } else {
      key = new Uint8Array(await crypto.subtle.digest("SHA-512", secret));
    }
    const siv = await SIV.importKey(key, "AES-SIV", new PolyfillCryptoProvider());
    return new Reader(siv, groupBlocks(objects));
  }

  /** A prefix's plaintext blocks: AES-SIV opened with ["", nonce as ASCII], then .xz. */
  async prefix(objects: Objects, prefix: string): Promise<Uint8Array[]> {
    const out: Uint8Array[] = [];
    for (const key of this.blocks.get(prefix)!) {
      const nonce = new TextEncoder().encode(FROM_DOC.blockKey.exec(key)![3]);
      const xz = await this.siv.open(objects.get(key)!, [new Uint8Array(0), nonce]);
      out.push(await unxz(xz));
    }
    return out;
  }

  /** A content prefix: every block but the last is full, and the content hashes to the name. */
  async content(objects: Objects, digest: string): Promise<Uint8Array> {
    const blocks = await this.prefix(objects, digest);
    blocks.slice(0, -1).forEach((b) => assertEquals(b.length, FROM_DOC.blockSize));
    const content = join(blocks);
    assertEquals(await blake2b(content, 256), digest, "content hashes to its prefix name");
    return content;
  }

  /** The newest snapshot's JSON, with `symlinks` merged, its entries checked against the page. */
  async snapshot(objects: Objects): Promise<{ name: string; json: Record<string, unknown> }> {
    const names = [...this.blocks.keys()].filter((p) => p.startsWith("snapshot_")).sort();
    const name = names.at(-1)!;
    assert(/^snapshot_[0-9A-HJKMNP-TV-Z]{26}$/.test(name), `${name} is not snapshot_<ULID>`);
    const json = JSON.parse(new TextDecoder().decode(join(await this.prefix(objects, name))));
    for (const field of Object.keys(json)) {
      assert(FROM_DOC.snapshotFields.has(field), `FORMAT.md does not describe the field ${field}`);
    }
    for (const [path, entry] of Object.entries({ ...json.structure, ...json.symlinks ?? {} })) {
      for (const [field, value] of Object.entries(entry as Record<string, unknown>)) {
        const type = FROM_DOC.entryFields.get(field);
        assert(type, `${path}: FORMAT.md does not describe the entry field ${field}`);
        const isType = type === "integer" ? Number.isInteger(value) : typeOf(value) === type;
        assert(isType, `${path}: ${field} is not a ${type}`);
      }
    }
    return { name, json };
  }
}

/** `typeof`, as a value that can be compared with a type the page names. */
function typeOf(value: unknown): string {
  return typeof value;
}

function join(blocks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(blocks.reduce((n, b) => n + b.length, 0));
  let offset = 0;
  for (const b of blocks) out.set(b, (offset += b.length) - b.length);
  return out;
}

const TYPE_BITS = { file: 0o100000, directory: 0o040000, symlink: 0o120000 } as const;

Deno.test("a reader written from FORMAT.md decodes the 0.4.0 fixtures into the trees they were made of", async () => {
  for (const name of fixtureNames()) {
    const description = await fixtureDescription(name);
    const objects = await fixtureObjects(name);
    assert(objects.has(".spare"), `${name}: no .spare marker`);
    const reader = await Reader.open(objects, description.password);
    const { json } = await reader.snapshot(objects);
    assert(/^[^:]+:\/.*:\d+$/.test(json.identity as string), `${name}: identity`);
    const structure = json.structure as Record<string, Record<string, unknown>>;
    const files = json.files as Record<string, string[]>;
    assertEquals(Object.keys(structure).sort(), Object.keys(description.entries).sort(), name);
    const digestOf = new Map<string, string>();
    for (const [digest, paths] of Object.entries(files)) {
      for (const path of paths) digestOf.set(path, digest);
    }
    const inodes = new Map<number, string[]>();
    for (const [path, want] of Object.entries(description.entries)) {
      const got = structure[path];
      const where = `${name}: ${path}`;
      assertEquals(got.type, want.type, where);
      assertEquals((got.mode as number) & 0o170000, TYPE_BITS[want.type], where);
      assertEquals((got.mode as number) & 0o7777, parseInt(want.mode, 8), where);
      assertEquals(got.mtime_ns, want.mtime_ns, where);
      inodes.set(got.inode as number, [...inodes.get(got.inode as number) ?? [], path]);
      if (want.type === "symlink") {
        assertEquals(got.target, want.link!.replace("$ROOT/", ""), where);
      } else if (want.type === "file") {
        assertEquals(got.size, want.size, where);
        assertEquals(got.empty, want.size === 0, where);
        assertEquals(digestOf.get(path), want.size ? want.blake2b : undefined, where);
      }
    }
    const groups = [...inodes.values()].filter((g) => g.length > 1).map((g) => g.sort()).sort();
    assertEquals(groups, description.link_groups, `${name}: hardlink groups`);
    for (const digest of Object.keys(files)) {
      const content = await reader.content(objects, digest);
      const size = structure[files[digest][0]].size as number;
      assertEquals(content.length, size, `${name}: ${digest}`);
      assertEquals(reader.blocks.get(digest)!.length, Math.ceil(size / FROM_DOC.blockSize));
    }
  }
});

/** The string constants a module defines as `const NAME = "value"` (exported or not). */
function stringConstants(file: string): Map<string, string> {
  const text = Deno.readTextFileSync(new URL(file, LIB));
  return new Map(
    [...text.matchAll(/^(?:export )?const (\w+)(?:: \w+)? = "([^"]*)";/gm)].map((
      m,
    ) => [m[1], m[2]]),
  );
}

/** The field names of the interfaces of a module (`name?: type;` lines). */
function interfaceFields(file: string, ...interfaces: string[]): Set<string> {
  const text = Deno.readTextFileSync(new URL(file, LIB));
  const fields = new Set<string>();
  for (const name of interfaces) {
    const body = text.match(new RegExp(`interface ${name}\\b[^{]*\\{([^}]*)\\}`))?.[1];
    assert(body, `${file} has no interface ${name}`);
    for (const m of body.matchAll(/^\s+(\w+)\??:/gm)) fields.add(m[1]);
  }
  return fields;
}

Deno.test("FORMAT.md names every key, field, pattern and limit the code uses", () => {
  const missing: string[] = [];
  const need = (text: string, what: string) => {
    if (!doc.includes(text)) missing.push(`${what}: ${text}`);
  };
  for (
    const [file, names] of [
      ["bucket/bucket.ts", ["MARKER_KEY", "LOCK_KEY"]],
      ["bucket/lock_protocol.ts", ["LOCK_OBJECTS"]],
      ["crypto/kdf.ts", ["KDF_KEY"]],
      ["snapshot/snapshot.ts", ["SNAPSHOT_PREFIX", "CROCKFORD"]],
      ["snapshot/legacy_symlinks.ts", ["SYMLINKS_FIELD"]],
    ] as const
  ) {
    const constants = stringConstants(file);
    for (const name of names) {
      const value = constants.get(name);
      assert(value !== undefined, `${file} no longer defines ${name}`);
      need(`\`${value}`, `${file} ${name}`);
    }
  }
  const bucket = Deno.readTextFileSync(new URL("bucket/bucket.ts", LIB));
  for (const name of ["PREFIX_PATTERN", "BLOCK_KEY_PATTERN"]) {
    const source = bucket.match(new RegExp(`const ${name} = /(.*)/;`))?.[1];
    assert(source, `bucket.ts no longer defines ${name}`);
    need(`\`${source.replaceAll("\\/", "/")}\``, `bucket.ts ${name}`);
  }
  const block = Deno.readTextFileSync(new URL("codec/block.ts", LIB));
  const blockSize = Number(block.match(/BLOCK_SIZE = ([\d_]+)/)![1].replaceAll("_", ""));
  assertEquals(FROM_DOC.blockSize, blockSize, "FORMAT.md's block size");
  const xz = Deno.readTextFileSync(new URL("codec/xz.ts", LIB));
  need(xz.match(/INCOMPRESSIBLE_BITS = ([\d.]+)/)![1], "xz.ts INCOMPRESSIBLE_BITS");
  need(`preset of \`--level\` (default ${xz.match(/DEFAULT_LEVEL = (\d+)/)![1]}`, "DEFAULT_LEVEL");
  const xzTypes = Deno.readTextFileSync(new URL("codec/xz_types.ts", LIB));
  const minDict = 2 ** Number(xzTypes.match(/MIN_DICT_SIZE = 1 << (\d+)/)![1]) / 1024;
  need(`at least ${minDict} KiB`, "xz_types.ts MIN_DICT_SIZE");

  // entry fields: the code's and the page's table are the same set
  const codeFields = interfaceFields(
    "snapshot/entry.ts",
    "EntryBase",
    "FileEntry",
    "DirectoryEntry",
    "SymlinkEntry",
  );
  assertEquals([...FROM_DOC.entryFields.keys()].sort(), [...codeFields].sort(), "entry fields");
  assertEquals(
    [...FROM_DOC.snapshotFields].sort(),
    [
      "files",
      "identity",
      "structure",
      stringConstants("snapshot/legacy_symlinks.ts").get(
        "SYMLINKS_FIELD",
      )!,
    ].sort(),
    "snapshot fields",
  );
  for (const field of interfaceFields("bucket/lock_protocol.ts", "LockHolder")) {
    need(`"${field}":`, "lock field");
  }

  // .spare-kdf: its JSON keys, the defaults and every limit
  const kdf = Deno.readTextFileSync(new URL("crypto/kdf.ts", LIB));
  const stored = kdf.match(/JSON\.stringify\(\{ ([^}]*) \}/)![1];
  for (const key of stored.split(",").map((k) => k.trim().split(":")[0])) {
    need(`"${key}": `, ".spare-kdf key");
  }
  const defaults = kdf.match(
    /DEFAULT_SCRYPT: ScryptCost = \{ N: 2 \*\* (\d+), r: (\d+), p: (\d+) \}/,
  )!;
  need(`N = ${2 ** Number(defaults[1])}, r = ${defaults[2]}, p = ${defaults[3]}`, "DEFAULT_SCRYPT");
  need(`draws ${kdf.match(/SALT_BYTES = (\d+)/)![1]} random bytes`, "SALT_BYTES");
  const limit = (name: string) => kdf.match(new RegExp(`${name}: ([^,]+),`))![1];
  const pow = (text: string) => text.replace(/^2 \*\* (\d+)$/, "2^$1");
  need(`power of two from ${pow(limit("minN"))} to ${pow(limit("maxN"))}`, "scrypt N");
  need(`integer from 1 to ${limit("maxR")}`, "scrypt r");
  need(`from 1 to ${limit("maxP")}`, "scrypt p");
  need(`above ${pow(limit("maxWork"))}`, "scrypt N·r·p");
  need(`${limit("minSaltBytes")}–${limit("maxSaltBytes")} bytes`, "salt bytes");
  const mib = (name: string) => Number(limit(name).replace(/ \* 1024 \* 1024$/, ""));
  need(`${mib("minMemory")}–${mib("maxMemory")} MiB`, "scrypt memory");
  const maxKdf = Number(bucket.match(/MAX_KDF_BYTES = (\d+)/)![1]);
  need(`larger than ${maxKdf.toLocaleString("en-US")} bytes`, "MAX_KDF_BYTES");

  assertEquals(missing, [], "FORMAT.md does not name these");
});

integration(
  "a reader written from FORMAT.md decodes spare's own bucket: .spare-kdf, symlinks, ctime_ns, link",
  async (ctx) => {
    const root = await ctx.dirs.make();
    await writeText(`${root}/a.txt`, "hello\n");
    await Deno.writeFile(`${root}/big.bin`, pseudoRandom(FROM_DOC.blockSize + 12_345));
    await Deno.symlink("a.txt", `${root}/rel`); // relative: 0.4.0 must not see it
    await Deno.symlink(`${root}/a.txt`, `${root}/abs`); // into the tree, after its target
    await spareExpect(0, ["create", "--path", root, "--kdf", "scrypt"], ctx.env);

    const objects: Objects = new Map();
    for await (const { key } of ctx.store.list(ctx.env.SPARE_BUCKET)) {
      objects.set(key, await ctx.store.get(ctx.env.SPARE_BUCKET, key));
    }
    assert(objects.has(".spare"), "no .spare marker");
    assert(!objects.has(".lock"), "the lock was left behind");
    const kdf = JSON.parse(new TextDecoder().decode(objects.get(".spare-kdf")!));
    assertEquals(Object.keys(kdf).sort(), ["N", "kdf", "p", "r", "salt"]);
    const reader = await Reader.open(objects, ctx.env.SPARE_PASSWORD);
    const { json } = await reader.snapshot(objects);
    assertEquals(Object.keys(json), ["files", "structure", "identity", "symlinks"]);
    const rootInode = (await Deno.stat(root)).ino;
    assert((json.identity as string).endsWith(`:${root}:${rootInode}`), "identity");
    const structure = json.structure as Record<string, Record<string, unknown>>;
    const symlinks = json.symlinks as Record<string, Record<string, unknown>>;
    assertEquals(Object.keys(symlinks), ["rel"]);
    assertEquals([symlinks.rel.target, symlinks.rel.link], ["a.txt", "a.txt"]);
    assertEquals([structure.abs.target, structure.abs.link], ["a.txt", `${root}/a.txt`]);
    for (const entry of [...Object.values(structure), ...Object.values(symlinks)]) {
      assert(Number.isInteger(entry.ctime_ns), "every entry has ctime_ns");
    }
    const files = json.files as Record<string, string[]>;
    const digests = Object.fromEntries(Object.entries(files).map(([d, [p]]) => [p, d]));
    assertEquals(Object.keys(digests).sort(), ["a.txt", "big.bin"]);
    assertEquals(
      new TextDecoder().decode(await reader.content(objects, digests["a.txt"])),
      "hello\n",
    );
    assertEquals(
      await reader.content(objects, digests["big.bin"]),
      await Deno.readFile(`${root}/big.bin`),
    );
    assertEquals(reader.blocks.get(digests["big.bin"])!.length, 2);
  },
);

if (!hasServer) console.log("format_doc_test: no test server, spare's own bucket not read");
