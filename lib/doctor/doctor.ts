/**
 * `spare doctor`: checks an endpoint and a bucket without touching backup data, and says
 * what it found and which settings spare needs there (lib/doctor/connect.ts: the read-only
 * probes; lib/doctor/writes.ts: the probes on keys of its own, removed at the end).
 */
import { defaultAddressing, endpointUrl, type S3Config } from "../s3/mod.ts";
import { probeConnection } from "./connect.ts";
import { type Check, CHECK_NAMES, type DoctorReport, ReportBuilder } from "./report.ts";
import { WriteProbes } from "./writes.ts";

export type { Check, DoctorReport };

/** Runs every check against `bucket` at the endpoint of `config`. */
export async function runDoctor(config: S3Config, bucket: string): Promise<DoctorReport> {
  const report = new ReportBuilder();
  const connected = await probeConnection(report, config, bucket);
  let settled = config;
  if (connected) {
    settled = connected.config;
    try {
      if (connected.foreign) {
        report.skip(
          ["writes", "conditional writes", "listing", "checksum headers", "batch deletes"],
          "not tried: the bucket holds data that is not spare's",
        );
      } else {
        const writes = new WriteProbes(report, connected.store, bucket);
        try {
          await writes.run();
        } finally {
          await writes.cleanUp(connected.created);
        }
      }
    } finally {
      connected.store.close();
    }
  }
  report.skip(
    CHECK_NAMES.filter((name) => name !== "cleanup"),
    "not tried: an earlier check failed",
  );
  const conditional = report.result("conditional writes");
  const listing = report.result("listing");
  const listingCheck = report.checks.find((c) => c.name === "listing");
  if (conditional && conditional !== "honoured" && listingCheck && listing !== "immediate") {
    listingCheck.status = "fail";
    listingCheck.message += `; with conditional writes ${conditional}, spare's lock needs ` +
      `a new key listed at once: it cannot exclude a second run here`;
  }
  const deletes = report.result("batch deletes");
  return {
    endpoint: endpointUrl(config.endpoint),
    bucket,
    ok: report.ok,
    checks: report.sorted(),
    recommended: {
      region: settled.region ?? "us-east-1",
      addressing: settled.addressing ?? defaultAddressing(settled.endpoint),
      ...(conditional
        ? { lock: conditional === "honoured" ? "conditional write" : "lock objects" }
        : {}),
      ...(deletes
        ? { deletes: deletes === "refused" ? "one at a time" : "batch with Content-MD5" }
        : {}),
      options: report.options,
    },
  };
}
