/** `doctor`: checks an endpoint and a bucket for spare, without touching backup data. */
import { reportLines, runDoctor } from "../doctor/mod.ts";
import { ExitCode } from "../util/mod.ts";
import { type Command, s3Config } from "./context.ts";

/** `spare doctor`: one line per check, then whether spare can work there and how. */
export const doctorCommand: Command = {
  needsPassword: false,
  takesPath: false,
  defaultJobs: 0,
  async run(context) {
    const config = s3Config(context.settings, context.timeoutSeconds);
    const report = await runDoctor(config, context.bucketName);
    if (context.flags.json) context.emit({ ...report });
    else for (const line of reportLines(report)) context.print(line);
    return report.ok ? ExitCode.ok : ExitCode.failure;
  },
};
