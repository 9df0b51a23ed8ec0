/** What `spare doctor` found: one check per line, the settings to use, and the verdict. */

/** How a check came out: ok, a warning spare can live with, a failure, or not tried. */
export type CheckStatus = "ok" | "warn" | "fail" | "skipped";

/** The checks, in the order they are reported. */
export const CHECK_NAMES = [
  "endpoint",
  "tls",
  "clock",
  "credentials",
  "region",
  "addressing",
  "bucket",
  "writes",
  "conditional writes",
  "listing",
  "checksum headers",
  "batch deletes",
  "cleanup",
] as const;

/** The name of one check. */
export type CheckName = typeof CHECK_NAMES[number];

/** One finding. */
export interface Check {
  name: CheckName;
  status: CheckStatus;
  /** Plain words: what was found, and what to do about it. */
  message: string;
  /** Short machine-readable outcome, e.g. "honoured", "refused", "ignored". */
  result?: string;
}

/** The settings spare should be run with there, as far as the checks found them. */
export interface Recommended {
  region: string;
  addressing: "path" | "virtual";
  /** The lock spare takes there. */
  lock?: "conditional write" | "lock objects";
  /** How spare deletes there. */
  deletes?: "batch with Content-MD5" | "one at a time";
  /** Options to add to the command line (--region, --addressing, --ca-cert). */
  options: string[];
}

/** The whole finding. */
export interface DoctorReport {
  endpoint: string;
  bucket: string;
  /** True when spare can work there (with `recommended.options` added). */
  ok: boolean;
  checks: Check[];
  recommended: Recommended;
}

/** Collects checks as the probes run. */
export class ReportBuilder {
  readonly checks: Check[] = [];
  readonly options: string[] = [];

  /** Records one finding. */
  add(name: CheckName, status: CheckStatus, message: string, result?: string): Check {
    const check: Check = { name, status, message, ...(result ? { result } : {}) };
    this.checks.push(check);
    return check;
  }

  /** Records a setting the operator must add. */
  advise(option: string): void {
    if (!this.options.includes(option)) this.options.push(option);
  }

  /** The checks of `names` not run because an earlier one failed. */
  skip(names: CheckName[], why: string): void {
    for (const name of names) {
      if (!this.checks.some((c) => c.name === name)) this.add(name, "skipped", why);
    }
  }

  /** The result of check `name`, when it ran. */
  result(name: CheckName): string | undefined {
    return this.checks.find((c) => c.name === name)?.result;
  }

  /** The checks in the order of CHECK_NAMES. */
  sorted(): Check[] {
    return [...this.checks].sort((a, b) =>
      CHECK_NAMES.indexOf(a.name) - CHECK_NAMES.indexOf(b.name)
    );
  }

  /** True when no check failed. */
  get ok(): boolean {
    return !this.checks.some((c) => c.status === "fail");
  }
}

const STATUS_WORD: Record<CheckStatus, string> = {
  ok: "ok",
  warn: "WARN",
  fail: "FAIL",
  skipped: "--",
};

/** One line of text per check; the checks not tried on one line at the end. */
export function reportLines(report: DoctorReport): string[] {
  const tried = report.checks.filter((c) => c.status !== "skipped");
  const lines = tried.map((c) => `${STATUS_WORD[c.status].padEnd(4)}  ${c.name}: ${c.message}`);
  const skipped = report.checks.filter((c) => c.status === "skipped");
  if (skipped.length) {
    lines.push(
      `${STATUS_WORD.skipped.padEnd(4)}  not tried: ${skipped.map((c) => c.name).join(", ")} (${
        skipped[0].message.replace(/^not tried:? ?/, "")
      })`,
    );
  }
  return [...lines, ...verdictLines(report)];
}

/** The closing line: whether spare can work there and with which settings. */
export function verdictLines(report: DoctorReport): string[] {
  const r = report.recommended;
  const options = r.options.length ? ` (add ${r.options.join(" ")})` : "";
  if (!report.ok) {
    const failed = report.checks.filter((c) => c.status === "fail").map((c) => c.name);
    return [
      `spare cannot work with bucket ${report.bucket} at ${report.endpoint} as configured: ` +
      `see ${failed.join(", ")}${options}`,
    ];
  }
  const how = [
    `region ${r.region}`,
    `${r.addressing === "path" ? "path-style" : "virtual-hosted"} addressing`,
    ...(r.lock ? [`lock by ${r.lock}`] : []),
    ...(r.deletes ? [`deletes ${r.deletes}`] : []),
  ];
  return [
    `spare can work with bucket ${report.bucket} at ${report.endpoint}${options}: ${
      how.join(", ")
    }`,
  ];
}
