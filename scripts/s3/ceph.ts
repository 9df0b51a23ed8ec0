/** Ceph RADOS Gateway: one monitor, one OSD (memstore), radosgw, auth none. */
import { freePort, HOST, run, type ServerSetup } from "./daemons.ts";

// ---------------------------------------------------------------------------------------
// Ceph: 1 monitor + 1 OSD + radosgw, auth none (S3 SigV4 in radosgw is unaffected).

/** The binaries a Ceph test server needs on the PATH. */
export const CEPH_BINARIES = [
  "ceph-mon",
  "ceph-osd",
  "radosgw",
  "radosgw-admin",
  "monmaptool",
  "ceph",
];

function cephConf(dir: string, fsid: string, monPort: number, rgwPort: number, store: string) {
  return `[global]
fsid = ${fsid}
mon host = v2:${HOST}:${monPort}
mon initial members = a
public addr = ${HOST}
ms bind ipv4 = true
ms bind ipv6 = false
ms bind msgr1 = false
auth cluster required = none
auth service required = none
auth client required = none
auth allow insecure global id reclaim = false
keyring = /dev/null
# radosgw defaults to ms_mon_client_mode = secure, which needs cephx: it never comes up
ms mon client mode = crc
ms client mode = crc
run dir = ${dir}/run
admin socket = ${dir}/run/$name.asok
log file = ${dir}/log/$name.log
pid file = ${dir}/run/$name.pid
log to stderr = false
err to stderr = false
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
# the disk may be fairly full: the defaults (crit 5%) make the monitor shut down
mon data avail warn = 2
mon data avail crit = 1
# every osdmap change (OSD boot, each pool radosgw creates) waited ~1 s for the next proposal
paxos propose interval = 0.01
paxos min wait = 0.001

[mon]
mon data = ${dir}/mon.$id
mon cluster log file = ${dir}/log/cluster.log

[osd]
osd data = ${dir}/osd.$id
osd objectstore = ${store}
# memstore keeps the objects in the OSD's memory; this is only the capacity it reports
memstore device bytes = 8589934592
bluestore block path = ${dir}/osd.$id/block.img
bluestore block create = true
bluestore block size = 10737418240
bluestore block db create = false
bluestore block wal create = false
bluestore fsck on mkfs = false
bluestore cache autotune = false
bluestore cache size = 134217728
osd memory target = 1073741824
osd max object size = 134217728

[client.rgw.a]
# tcp_nodelay: without it every response with a body waited ~44 ms for a delayed ACK
rgw frontends = beast endpoint=${HOST}:${rgwPort} tcp_nodelay=1
rgw data = ${dir}/rgw
rgw dns name = ${HOST}
rgw thread pool size = 64
rgw enable lc threads = false
# no per-request log lines (errors are still logged)
debug rgw = 0/5
rgw dynamic resharding = false
`;
}

/** Starts it in `dir` under `procs`; returns its endpoint URL once it answers. */
export async function startCeph(
  { dir, procs, keys, signal, log }: ServerSetup,
): Promise<string> {
  const store = Deno.env.get("SPARE_CEPH_STORE") || "memstore";
  if (store !== "memstore" && store !== "bluestore") {
    throw new Error(`SPARE_CEPH_STORE must be memstore or bluestore, not ${store}`);
  }
  for (const sub of ["run", "log", "mon.a", "osd.0", "rgw"]) await Deno.mkdir(`${dir}/${sub}`);
  const fsid = crypto.randomUUID();
  const osdUuid = crypto.randomUUID();
  const monPort = freePort();
  const rgwPort = freePort();
  const conf = `${dir}/ceph.conf`;
  await Deno.writeTextFile(conf, cephConf(dir, fsid, monPort, rgwPort, store));
  const c = ["-c", conf];

  await run("monmaptool", [
    "--create",
    "--clobber",
    "--fsid",
    fsid,
    "--addv",
    "a",
    `[v2:${HOST}:${monPort}]`,
    `${dir}/monmap`,
  ], signal);
  await run("ceph-mon", [...c, "--mkfs", "-i", "a", "--monmap", `${dir}/monmap`], signal);
  procs.spawn("mon.a", "ceph-mon", [...c, "-i", "a", "-f"]);
  log(`mon started on port ${monPort}`);

  // The OSD's mkfs and its registration in the osdmap (which needs the monitor) overlap.
  await Promise.all([
    run("ceph-osd", [...c, "-i", "0", "--mkfs", "--osd-uuid", osdUuid], signal).then(() =>
      log(`osd.0 mkfs done (${store})`)
    ),
    run("ceph", [...c, "osd", "new", osdUuid, "0"], signal).then(() => log("osd.0 registered")),
  ]);
  procs.spawn("osd.0", "ceph-osd", [...c, "-i", "0", "-f"]);
  log("osd.0 started");
  // radosgw only after the OSD is up: the placement groups of a pool created while no OSD
  // is up are only created at the monitor's next tick (5 s later).
  const up = await procs.waitForLine(`${dir}/log/osd.0.log`, "state: booting -> active", signal);
  log(up ? "osd.0 up" : "osd.0 did not say it is up; starting radosgw all the same");
  procs.spawn("rgw.a", "radosgw", [...c, "-n", "client.rgw.a", "-f"]);
  log("radosgw started");
  await procs.waitHttp(rgwPort, "/", signal);
  log(`radosgw answering on port ${rgwPort}`);
  // After radosgw is up, so that the two do not race to create the default zone.
  await run("radosgw-admin", [
    ...c,
    "-n",
    "client.admin",
    "user",
    "create",
    "--uid=spare",
    "--display-name=spare",
    `--access-key=${keys.accessKey}`,
    `--secret-key=${keys.secretKey}`,
  ], signal);
  log("S3 user created");
  return `http://${HOST}:${rgwPort}`;
}
