/**
 * Builds lzma-native's native addon from the sources its npm package ships, with liblzma
 * compiled at -O2, and installs it next to the prebuilt addon for this platform, under a
 * name node-gyp-build prefers (see optimizedAddonPath in lib/xz.ts).
 *
 * Why: the prebuilt addon in lzma-native 8.0.6 has its bundled liblzma 5.2.3 compiled
 * without optimization (its liblzma-config.sh passes CFLAGS="-fPIC" to configure, which
 * drops autoconf's default -O2). That build compresses about 2× slower and decompresses
 * about 1.6× slower; the output is byte for byte the same. Without this step spare still
 * works, on the prebuilt addon.
 *
 * Needs node, npx, python3, make and a C/C++ compiler (node-gyp's usual toolchain); node-gyp
 * itself comes from the npm registry, pinned below. Usage:
 *   deno task build-lzma           build and install (a no-op when already installed)
 *   deno task build-lzma --force   build again
 *   deno task build-lzma --check   exit 0 when the optimized addon is installed, 1 if not
 */
import { compress, decompress, lzmaAddon, optimizedAddonPath } from "../lib/xz.ts";

const NODE_GYP = "node-gyp@11.5.0";

function fail(message: string): never {
  console.error(`build-lzma: ${message}`);
  Deno.exit(1);
}

async function run(cmd: string, args: string[], options: Deno.CommandOptions = {}): Promise<void> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(cmd, { ...options, args, stdout: "piped", stderr: "piped" })
      .output();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) fail(`${cmd} is not installed (needed to build)`);
    throw err;
  }
  if (!out.success) {
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    const tail = text.trim().split("\n").slice(-15).join("\n");
    fail(`${cmd} ${args.join(" ")} failed (exit ${out.code}):\n${tail}`);
  }
}

async function hasCommand(cmd: string, arg = "--version"): Promise<boolean> {
  try {
    return (await new Deno.Command(cmd, { args: [arg], stdout: "null", stderr: "null" }).output())
      .success;
  } catch {
    return false;
  }
}

const force = Deno.args.includes("--force");
const before = lzmaAddon();
if (Deno.args.includes("--check")) {
  const text = new TextEncoder().encode("spare build-lzma round trip\n".repeat(5000));
  const back = await decompress(await compress(text));
  if (back.length !== text.length || back.some((b, i) => b !== text[i])) {
    fail(`the addon at ${before.path} does not round-trip`);
  }
  console.log(`${before.description} (${before.path})`);
  Deno.exit(before.optimized ? 0 : 1);
}
if (before.optimized && !force) {
  console.log(`build-lzma: already installed: ${before.description}`);
  Deno.exit(0);
}

for (const tool of ["node", "npx", "python3", "make"]) {
  if (!await hasCommand(tool)) fail(`${tool} is not on the PATH (needed to build)`);
}
if (!await hasCommand("c++") && !await hasCommand("g++") && !await hasCommand("clang++")) {
  fail("no C++ compiler on the PATH (c++, g++ or clang++)");
}

// node-gyp builds in the package's folder: build a copy, so that a failed build leaves the
// installed package as it was.
const packageDir = before.packageDir;
const target = optimizedAddonPath(packageDir);
const nodeModules = Deno.realPathSync(`${packageDir}/..`);
const work = await Deno.makeTempDir({ prefix: "spare-build-lzma-" });
try {
  await Deno.mkdir(`${work}/node_modules`);
  for (const name of ["lzma-native", "node-addon-api"]) {
    await run("cp", ["-RL", `${nodeModules}/${name}`, `${work}/node_modules/${name}`]);
  }
  const copy = `${work}/node_modules/lzma-native`;
  await Deno.remove(`${copy}/build`, { recursive: true }).catch(() => {});
  const flags = (name: string) => `-O2 ${Deno.env.get(name) ?? ""}`.trim();
  console.log(`build-lzma: building lzma-native with liblzma at -O2 (about half a minute)`);
  await run("npx", ["--yes", NODE_GYP, "rebuild"], {
    cwd: copy,
    env: { CFLAGS: flags("CFLAGS"), CXXFLAGS: flags("CXXFLAGS") },
  });
  const built = `${copy}/build/Release/lzma_native.node`;
  await Deno.stat(built).catch(() => fail(`node-gyp did not produce ${built}`));
  // Only the addon goes into the package: the build tree (liblzma's sources and objects)
  // would otherwise be embedded by `deno compile`.
  await Deno.copyFile(built, `${target}.tmp`);
  await Deno.rename(`${target}.tmp`, target);
} finally {
  await Deno.remove(work, { recursive: true }).catch(() => {});
}

// The new addon must load and round-trip in a fresh process before we call it done.
const probe = await new Deno.Command(Deno.execPath(), {
  args: ["run", "--allow-read", "--allow-env", "--allow-ffi", import.meta.filename!, "--check"],
  stdout: "piped",
  stderr: "piped",
}).output();
const said = new TextDecoder().decode(probe.stdout).trim();
if (!probe.success) {
  await Deno.remove(target).catch(() => {});
  fail(`the built addon does not load; removed it, the prebuilt one stays in use\n${said}`);
}
console.log(`build-lzma: installed: ${said}`);
