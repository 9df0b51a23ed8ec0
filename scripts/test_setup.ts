/**
 * What `deno task test` does when no S3 server can be started: as root on Debian or Ubuntu it
 * installs Debian's Ceph packages itself (apt's output goes to a log file); elsewhere it
 * prints the command that would and stops.
 */

/** Debian's packages of the test server: monitor, OSD, RADOS Gateway and the admin tools. */
export const CEPH_PACKAGES = ["ceph-mon", "ceph-osd", "radosgw", "ceph-common"];

/** What the test runner knows about the machine. */
export interface MachineFacts {
  /** A MinIO or Ceph server can be started (scripts/s3_server.ts finds its binaries). */
  hasServer: boolean;
  isRoot: boolean;
  /** ID and ID_LIKE of /etc/os-release (empty when there is none). */
  osId: string;
  osIdLike: string;
  hasAptGet: boolean;
  /** The xz command is on the PATH (tests/xz_test.ts compares with it). */
  hasXz: boolean;
}

/** Go ahead; install packages with apt-get first; or print a command and stop. */
export type SetupPlan =
  | { action: "run" }
  | { action: "install"; packages: string[] }
  | { action: "instruct"; message: string };

/** Whether the machine is Debian or a derivative (Ubuntu) by its os-release. */
export function isDebianLike(osId: string, osIdLike: string): boolean {
  const ids = [osId, ...osIdLike.split(/\s+/)].map((s) => s.replace(/"/g, "").toLowerCase());
  return ids.some((id) => id === "debian" || id === "ubuntu");
}

/** The apt-get command line that installs `packages`. */
export function aptCommand(packages: string[], sudo = false): string {
  const s = sudo ? "sudo " : "";
  return `${s}apt-get update && ${s}apt-get install -y --no-install-recommends ${
    packages.join(" ")
  }`;
}

/** What to do before the tests run, from the facts alone. */
export function setupPlan(facts: MachineFacts): SetupPlan {
  if (facts.hasServer) return { action: "run" };
  const packages = [...CEPH_PACKAGES, ...(facts.hasXz ? [] : ["xz-utils"])];
  const debian = isDebianLike(facts.osId, facts.osIdLike) && facts.hasAptGet;
  if (debian && facts.isRoot) return { action: "install", packages };
  const message = debian
    ? `the tests need an S3 server (Ceph or MinIO); install Ceph with:\n  ${
      aptCommand(packages, true)
    }\nthen run deno task test again (as root, deno task test does that itself)`
    : "the tests need an S3 server: put a `minio` binary on the PATH " +
      "(https://min.io/download), or on Debian or Ubuntu run as root:\n  " +
      aptCommand(packages) + "\nthen run deno task test again";
  return { action: "instruct", message };
}

/** ID and ID_LIKE from /etc/os-release (empty strings when it is missing). */
export function readOsRelease(text: string): { osId: string; osIdLike: string } {
  const get = (key: string) =>
    text.match(new RegExp(`^${key}=(.*)$`, "m"))?.[1].replace(/^["']|["']$/g, "").trim() ?? "";
  return { osId: get("ID"), osIdLike: get("ID_LIKE") };
}

/**
 * Runs apt-get update and apt-get install for `packages`, output appended to `logFile`;
 * throws with the log's last lines when either fails.
 */
export async function aptInstall(packages: string[], logFile: string): Promise<void> {
  for (const args of [["update"], ["install", "-y", "--no-install-recommends", ...packages]]) {
    const status = await new Deno.Command("sh", {
      args: ["-c", 'log=$1; shift; exec apt-get "$@" >>"$log" 2>&1', "sh", logFile, ...args],
      env: { DEBIAN_FRONTEND: "noninteractive" },
      stdin: "null",
    }).output();
    if (!status.success) {
      const tail = (await Deno.readTextFile(logFile)).trimEnd().split("\n").slice(-10);
      throw new Error(`apt-get ${args[0]} failed (exit ${status.code}):\n${tail.join("\n")}`);
    }
  }
}
