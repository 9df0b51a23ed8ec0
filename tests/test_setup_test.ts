/** What `deno task test` does on a machine without an S3 server (pure functions). */
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import {
  aptCommand,
  isDebianLike,
  type MachineFacts,
  readOsRelease,
  setupPlan,
} from "../scripts/test_setup.ts";

const CEPH = ["ceph-mon", "ceph-osd", "radosgw", "ceph-common"];
const debianRoot: MachineFacts = {
  hasServer: false,
  isRoot: true,
  osId: "debian",
  osIdLike: "",
  hasAptGet: true,
  hasXz: true,
};

Deno.test("set-up: a server installed runs the tests at once", () => {
  assertEquals(setupPlan({ ...debianRoot, hasServer: true }), { action: "run" });
  assertEquals(setupPlan({ ...debianRoot, hasServer: true, osId: "fedora", isRoot: false }), {
    action: "run",
  });
});

Deno.test("set-up: root on Debian or Ubuntu without a server installs Debian's Ceph", () => {
  assertEquals(setupPlan(debianRoot), { action: "install", packages: CEPH });
  assertEquals(setupPlan({ ...debianRoot, osId: "ubuntu", osIdLike: "debian" }), {
    action: "install",
    packages: CEPH,
  });
  assertEquals(setupPlan({ ...debianRoot, osId: "linuxmint", osIdLike: "ubuntu debian" }), {
    action: "install",
    packages: CEPH,
  });
  assertEquals(setupPlan({ ...debianRoot, hasXz: false }), {
    action: "install",
    packages: [...CEPH, "xz-utils"],
  });
});

Deno.test("set-up: elsewhere it prints the exact command and installs nothing", () => {
  const cases: [Partial<MachineFacts>, string][] = [
    [
      { isRoot: false },
      `sudo apt-get update && sudo apt-get install -y --no-install-recommends ${CEPH.join(" ")}`,
    ],
    [{ osId: "fedora" }, `apt-get update && apt-get install -y --no-install-recommends`],
    [{ osId: "", osIdLike: "" }, "put a `minio` binary on the PATH"],
    [{ hasAptGet: false }, "put a `minio` binary on the PATH"],
  ];
  for (const [facts, text] of cases) {
    const plan = setupPlan({ ...debianRoot, ...facts });
    assert(plan.action === "instruct", JSON.stringify(facts));
    assertStringIncludes(plan.message, text);
  }
});

Deno.test("set-up: os-release is read as systemd documents it", () => {
  assertEquals(readOsRelease('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n'), {
    osId: "debian",
    osIdLike: "",
  });
  assertEquals(readOsRelease('ID=ubuntu\nID_LIKE="debian"\nVERSION_ID="24.04"\n'), {
    osId: "ubuntu",
    osIdLike: "debian",
  });
  assertEquals(readOsRelease(""), { osId: "", osIdLike: "" });
  assert(isDebianLike("Debian", ""));
  assert(!isDebianLike("arch", ""));
  assert(!isDebianLike("debianish", ""));
  assertEquals(
    aptCommand(["a", "b"]),
    "apt-get update && apt-get install -y --no-install-recommends a b",
  );
});
