/** The bench's report: the machine line and the Markdown tables of runs and targets. */
import type { S3Server } from "../s3_server.ts";

/** One line about the machine, the codec and the server. */
export async function machineInfo(
  server: S3Server,
  loadBefore: number | undefined,
  codec: string,
): Promise<string> {
  let cpu = "unknown CPU";
  try {
    const out = await new Deno.Command("sh", {
      args: ["-c", "grep -m1 'model name' /proc/cpuinfo"],
      stdout: "piped",
      stderr: "null",
    }).output();
    cpu = /:\s*(.+)/.exec(new TextDecoder().decode(out.stdout))?.[1]?.trim() || cpu;
  } catch { /* no /proc */ }
  let os: string = Deno.build.os;
  try {
    const release = await Deno.readTextFile("/etc/os-release");
    os = /PRETTY_NAME="?([^"\n]+)/.exec(release)?.[1] ?? os;
  } catch { /* no os-release */ }
  let mem = "";
  try {
    mem = `, ${(Deno.systemMemoryInfo().total / 1024 ** 3).toFixed(0)} GiB RAM`;
  } catch { /* not granted */ }
  const load = loadBefore === undefined
    ? ""
    : `; load average ${loadBefore.toFixed(2)} before the first measured run`;
  return `${cpu}, ${navigator.hardwareConcurrency} cores${mem}, ${os}; deno ${Deno.version.deno}; ` +
    `xz codec: ${codec}; S3 server: ${server.kind} on 127.0.0.1 (shares the cores)${load}`;
}

/** The 1-minute load average, when the system tells it. */
export function loadAverage(): number | undefined {
  try {
    return Deno.loadavg()[0];
  } catch {
    return undefined;
  }
}

/** A number with `digits` decimals, or a dash. */
export function fmt(value: number | undefined, digits: number): string {
  return value === undefined || Number.isNaN(value) ? "—" : value.toFixed(digits);
}

/** A byte count with thousands separators, or a dash. */
export function fmtBytes(value: number | undefined): string {
  return value === undefined ? "—" : value.toLocaleString("en-US");
}

/** What one run of spare (or 0.4.0, or a yardstick) measured. */
export interface Run {
  wall: number;
  cpu?: number;
  /** CPU seconds of the S3 server's processes during the run (they share the cores). */
  serverCpu?: number;
  /** Peak VmRSS, MiB. */
  rssMiB?: number;
  /** Peak RssAnon, MiB. */
  anonMiB?: number;
  stored?: number;
}

/** One row of the table: our run and, when measured, 0.4.0's run of the same thing. */
export interface Row extends Run {
  name: string;
  mibps?: number;
  note?: string;
  old?: Run;
}

/** The rows as a Markdown table, 0.4.0's figures beside ours. */
export function renderRows(rows: Row[]): string {
  const lines = [
    "| run | wall s | 0.4.0 wall s | × 0.4.0 | CPU s | server CPU s (0.4.0's run) | RssAnon MiB | VmRSS MiB | 0.4.0 RssAnon / VmRSS MiB | MiB/s | bytes stored | 0.4.0 bytes stored |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const r of rows) {
    const old = r.old;
    lines.push(
      [
        `${r.name}${r.note ? ` (${r.note})` : ""}`,
        fmt(r.wall, 2),
        fmt(old?.wall, 2),
        old ? fmt(r.wall / old.wall, 2) : "—",
        fmt(r.cpu, 2),
        `${fmt(r.serverCpu, 2)}${old ? ` (${fmt(old.serverCpu, 2)})` : ""}`,
        fmt(r.anonMiB, 1),
        fmt(r.rssMiB, 1),
        old ? `${fmt(old.anonMiB, 1)} / ${fmt(old.rssMiB, 1)}` : "—",
        fmt(r.mibps, 1),
        fmtBytes(r.stored),
        fmtBytes(old?.stored),
      ].join(" | ").replace(/^/, "| ").replace(/$/, " |"),
    );
  }
  return lines.join("\n");
}

/** One target of the issue and what was measured. */
export interface Target {
  name: string;
  value: number | undefined;
  digits: number;
  limit: string;
  met: boolean | undefined;
  detail?: string;
  /** Printed for comparison only: no target of the issue. */
  reference?: boolean;
}

/** The targets as a Markdown table. */
export function renderTargets(targets: Target[]): string {
  const lines = ["| target | measured | limit | |", "| --- | ---: | ---: | --- |"];
  for (const t of targets) {
    const verdict = t.reference
      ? "for reference"
      : t.met === undefined
      ? "not measured"
      : t.met
      ? "met"
      : "not met";
    lines.push(
      `| ${t.name}${t.detail ? ` (${t.detail})` : ""} | ${
        fmt(t.value, t.digits)
      } | ${t.limit} | ${verdict} |`,
    );
  }
  return lines.join("\n");
}
