/** Pure functions of issue 15: globs, partial-restore selection, diff, --keep-within, sampling, formats. */
import { assert, assertEquals } from "./assert.ts";
import { prefixDamage } from "../lib/bucket/bucket.ts";
import { countChanges, diffSnapshots } from "../lib/snapshot/diff.ts";
import { SnapshotTable } from "../lib/snapshot/table.ts";
import { UsageError } from "../lib/util/errors.ts";
import { humanBytes, localIsoTime, modeString } from "../lib/util/format.ts";
import { globMatcher, relativePath } from "../lib/util/glob.ts";
import { parseDuration, snapshotsToKeep } from "../lib/backup/prune.ts";
import { isSelected, type Selection, selectSnapshot } from "../lib/snapshot/select.ts";
import type { Entry, SnapshotData } from "../lib/snapshot/snapshot.ts";
import { sampleOf } from "../lib/verify/verify.ts";

Deno.test("glob: * and ? stay within one component, ** crosses them", () => {
  const cases: [string, string[], string[]][] = [
    ["etc/*", ["etc/hosts", "etc/nginx"], ["etc", "etc/nginx/nginx.conf", "xetc/a"]],
    ["etc/**", ["etc/hosts", "etc/nginx/nginx.conf"], ["etc", "etcetera/a"]],
    ["**/*.conf", ["a.conf", "etc/nginx/nginx.conf"], ["etc/conf", "a.conf.bak"]],
    ["etc/**/*.conf", ["etc/a.conf", "etc/nginx/sites/b.conf"], ["a.conf", "etc/a.confx"]],
    ["etc/**/sites/**", ["etc/sites/x", "etc/nginx/sites/x/y"], ["etc/sites"]],
    ["**", ["a", "a/b/c"], []],
    ["file?.txt", ["file1.txt"], ["file10.txt", "file/.txt"]],
    ["a.b", ["a.b"], ["axb"]],
    ["(x)+[y]", ["(x)+[y]"], ["xy"]],
    ["/etc/hosts/", ["etc/hosts"], ["etc"]],
    ["./etc/hosts", ["etc/hosts"], []],
    ["a**b", ["ab", "a/x/b"], ["a/x/c"]],
    ["a/**/**/b", ["a/b", "a/x/b"], ["a/xb"]],
  ];
  for (const [pattern, yes, no] of cases) {
    const glob = globMatcher(pattern);
    for (const path of yes) assert(glob(path), `${pattern} should match ${path}`);
    for (const path of no) assert(!glob(path), `${pattern} should not match ${path}`);
  }
  let error: unknown;
  try {
    globMatcher("/", "--include");
  } catch (err) {
    error = err;
  }
  assert(error instanceof UsageError, "an empty glob is a usage error");
  assertEquals(relativePath("./a/b/"), "a/b");
});

function entry(type: Entry["type"], inode: number, extra: Partial<Entry> = {}): Entry {
  const base = { user: "root", group: "root", size: 1, mtime_ns: 1e15, inode };
  const mode = type === "directory" ? 0o40755 : type === "file" ? 0o100644 : 0o120777;
  if (type === "symlink") return { type, mode, ...base, target: "x", ...extra } as Entry;
  if (type === "file") return { type, mode, ...base, empty: false, ...extra } as Entry;
  return { type, mode, ...base, ...extra } as Entry;
}

/** etc/{hosts, nginx/{nginx.conf, sites/default}}, data/{big.bin, hosts.bak}; hosts.bak is a hardlink of etc/hosts. */
function sample(): SnapshotData {
  return {
    identity: "host:/srv:1",
    structure: {
      data: entry("directory", 1),
      "data/big.bin": entry("file", 2),
      "data/hosts.bak": entry("file", 3),
      etc: entry("directory", 4, { mode: 0o40700 }),
      "etc/hosts": entry("file", 3),
      "etc/motd": entry("symlink", 5),
      "etc/nginx": entry("directory", 6),
      "etc/nginx/nginx.conf": entry("file", 7),
      "etc/nginx/sites": entry("directory", 8),
      "etc/nginx/sites/default": entry("file", 9),
      "empty.txt": entry("file", 10, { size: 0, empty: true } as Partial<Entry>),
    },
    files: {
      big: ["data/big.bin"],
      hosts: ["data/hosts.bak", "etc/hosts"],
      conf: ["etc/nginx/nginx.conf", "etc/nginx/sites/default"],
    },
  };
}

function select(include: string[], exclude: string[] = []): Selection {
  return {
    include: include.map((p) => globMatcher(p)),
    exclude: exclude.map((p) => globMatcher(p)),
  };
}

Deno.test("selection: one file brings its directories, files cut to it", () => {
  const snapshot = sample();
  const before = JSON.stringify(snapshot);
  const one = selectSnapshot(snapshot, select(["etc/nginx/nginx.conf"]));
  assertEquals(Object.keys(one.structure), ["etc", "etc/nginx", "etc/nginx/nginx.conf"]);
  assertEquals(one.structure.etc, snapshot.structure.etc, "a directory on the way keeps its entry");
  assertEquals(one.files, { conf: ["etc/nginx/nginx.conf"] });
  assertEquals(one.identity, snapshot.identity);
  assertEquals(JSON.stringify(snapshot), before, "the snapshot given was changed");
});

Deno.test("selection: a directory brings everything under it; hardlink groups are cut", () => {
  const etc = selectSnapshot(sample(), select(["etc"]));
  assertEquals(Object.keys(etc.structure), [
    "etc",
    "etc/hosts",
    "etc/motd",
    "etc/nginx",
    "etc/nginx/nginx.conf",
    "etc/nginx/sites",
    "etc/nginx/sites/default",
  ]);
  assertEquals(etc.files, {
    hosts: ["etc/hosts"],
    conf: ["etc/nginx/nginx.conf", "etc/nginx/sites/default"],
  });
});

Deno.test("selection: excludes win over includes, also through a directory", () => {
  const s = select(["etc/**"], ["etc/nginx/sites", "*.txt"]);
  assert(isSelected(s, "etc/nginx/nginx.conf"));
  assert(!isSelected(s, "etc/nginx/sites/default"));
  assert(!isSelected(s, "etc/nginx/sites"));
  assert(!isSelected(s, "data/big.bin"));
  const onlyExclude = selectSnapshot(sample(), select([], ["etc", "empty.txt"]));
  assertEquals(Object.keys(onlyExclude.structure), ["data", "data/big.bin", "data/hosts.bak"]);
  assertEquals(onlyExclude.files, { big: ["data/big.bin"], hosts: ["data/hosts.bak"] });
  assertEquals(Object.keys(selectSnapshot(sample(), select(["nothing"])).structure), []);
  const withRefused = {
    ...sample(),
    refused: [{ path: "etc/bad", reason: "x" }, { path: "data/bad", reason: "y" }],
  };
  assertEquals(selectSnapshot(withRefused, select(["etc"])).refused, [
    { path: "etc/bad", reason: "x" },
  ]);
});

Deno.test("diff: +, -, M (content, link), T (type), P (mode, owner, mtime), nothing else", () => {
  const older = sample();
  const newer = structuredClone(older);
  delete newer.structure["empty.txt"];
  newer.structure["new.txt"] = entry("file", 20);
  newer.files.fresh = ["new.txt"];
  newer.files.hosts = ["data/hosts.bak"];
  newer.files.hosts2 = ["etc/hosts"];
  newer.structure["etc/motd"] = entry("symlink", 5, { target: "y" } as Partial<Entry>);
  newer.structure["data/big.bin"] = entry("directory", 2);
  newer.files.big = [];
  newer.structure["etc/nginx/nginx.conf"] = entry("file", 7, { mode: 0o100600 });
  newer.structure["etc/nginx/sites"] = entry("directory", 8, { user: "www" });
  newer.structure.data = entry("directory", 1, { mtime_ns: 2e15 });
  newer.structure["etc/nginx/sites/default"] = entry("file", 99); // new inode only: no change
  // 0.4.0 wrote no link text; ours has it, and the same target: no change
  newer.structure["etc/motd2"] = entry("symlink", 30, { link: "/srv/x" } as Partial<Entry>);
  older.structure["etc/motd2"] = entry("symlink", 30);
  const table = SnapshotTable.fromData;
  const changes = diffSnapshots(table(older), table(newer));
  assertEquals(changes.map((c) => `${c.kind} ${c.path}`), [
    "P data",
    "T data/big.bin",
    "- empty.txt",
    "M etc/hosts",
    "M etc/motd",
    "P etc/nginx/nginx.conf",
    "P etc/nginx/sites",
    "+ new.txt",
  ]);
  assertEquals(countChanges(changes), { "+": 1, "-": 1, M: 2, T: 1, P: 3 });
  assertEquals(diffSnapshots(table(older), table(older)), []);
});

Deno.test("--keep-within: durations, and which snapshots are kept", () => {
  assertEquals(parseDuration("30d"), 30 * 86_400_000);
  assertEquals(parseDuration("12h"), 12 * 3_600_000);
  assertEquals(parseDuration("1y2w"), (365 + 14) * 86_400_000);
  for (const bad of ["", "30", "d", "30m", "1.5d", "-1d", "0d", "30 d"]) {
    assertEquals(parseDuration(bad), undefined, bad);
  }
  const day = 86_400_000;
  const now = Date.UTC(2026, 0, 31);
  const name = (daysAgo: number) => {
    // a ULID's first 10 characters are its time in Crockford base32
    const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let t = now - daysAgo * day;
    let out = "";
    for (let i = 0; i < 10; i++) {
      out = crockford[t % 32] + out;
      t = Math.floor(t / 32);
    }
    return `snapshot_${out}${"0".repeat(16)}`;
  };
  const names = [40, 31, 29, 10, 1, 0].map(name);
  assertEquals(snapshotsToKeep(names, 1, undefined, now), [name(0)]);
  assertEquals(snapshotsToKeep(names, 2, undefined, now), [name(1), name(0)]);
  assertEquals(snapshotsToKeep(names, 1, 30 * day, now), [name(29), name(10), name(1), name(0)]);
  assertEquals(snapshotsToKeep(names, 5, 2 * day, now), names.slice(1));
  // the snapshot just written is kept however old its clock says it is
  assertEquals(snapshotsToKeep([name(50), name(40)], 1, day, now), [name(40)]);
});

Deno.test("verify --sample: at least one, the same seed gives the same choice", () => {
  const digests = Array.from({ length: 200 }, (_, i) => `d${String(i).padStart(3, "0")}`);
  assertEquals(sampleOf(digests, 100, 1).sort(), [...digests].sort());
  assertEquals(sampleOf(digests, 0.1, 1).length, 1);
  assertEquals(sampleOf(digests, 10, 1).length, 20);
  assertEquals(sampleOf(digests, 10, 42), sampleOf([...digests].reverse(), 10, 42));
  assert(
    JSON.stringify(sampleOf(digests, 10, 42)) !== JSON.stringify(sampleOf(digests, 10, 43)),
    "another seed chose the same digests",
  );
  assertEquals(new Set(sampleOf(digests, 50, 7)).size, 100);
  assertEquals(sampleOf([], 50, 7), []);
});

Deno.test("verify --structure-only: gaps, doubles and too few blocks", () => {
  const info = (indexes: number[]) => ({
    name: "p",
    complete: indexes.includes(1),
    blocks: indexes.map((index) => ({ key: `p/${index}`, index, nonce: "n", size: 1 })),
  });
  assertEquals(prefixDamage(info([1, 2, 3]), 3), undefined);
  assertEquals(prefixDamage(info([1, 2, 3, 4]), 3), undefined);
  assert(prefixDamage(info([1, 3]))?.includes("block 2 is missing"));
  assert(prefixDamage(info([1, 2, 2]))?.includes("block 3 is missing or doubled"));
  assert(prefixDamage(info([1, 2]), 3)?.includes("block 3 is missing"));
});

Deno.test("formats: modes as ls -l, local ISO times, binary units", () => {
  assertEquals(modeString(0o100644), "-rw-r--r--");
  assertEquals(modeString(0o40755), "drwxr-xr-x");
  assertEquals(modeString(0o120777), "lrwxrwxrwx");
  assertEquals(modeString(0o104755), "-rwsr-xr-x");
  assertEquals(modeString(0o42750), "drwxr-s---");
  assertEquals(modeString(0o41777), "drwxrwxrwt");
  assertEquals(modeString(0o41776), "drwxrwxrwT");
  const time = new Date(Date.UTC(2021, 0, 1, 12, 30, 5));
  const text = localIsoTime(time);
  assert(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$/.test(text), text);
  assertEquals(new Date(text).getTime(), time.getTime());
  assertEquals(humanBytes(0), "0 B");
  assertEquals(humanBytes(1023), "1023 B");
  assertEquals(humanBytes(2_621_440), "2.50 MiB");
  assertEquals(humanBytes(15.5 * 1024 ** 3), "15.5 GiB");
  assertEquals(humanBytes(118 * 1024 ** 4), "118 TiB");
});
